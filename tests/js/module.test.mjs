/*
 * pushapp.mjs, the ES module: importable where there is no page (server-side rendering imports it too), and
 * the same client once there is one. Its behaviour is pushapp.js's (pushapp.test.js): it is generated from it.
 */
import test from "node:test";
import assert from "node:assert/strict";

test("importing the module touches no page: no window, no document needed", async () => {
  assert.equal(typeof globalThis.window, "undefined");
  const module = await import("../../pushapp/static/pushapp/pushapp.mjs");
  assert.deepEqual(Object.keys(module).sort(), ["PushappClient", "default"]);
  assert.equal(module.default, module.PushappClient);
  assert.equal(typeof globalThis.PushappClient, "undefined"); // no globals either
  assert.equal(typeof globalThis.pushapp, "undefined");
});

test("in a page, the module's client connects and authenticates", async () => {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      sockets.push(this);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close() {
      this.readyState = 3;
    }
  }
  globalThis.window = { location: { href: "https://example.com/page" }, sessionStorage: null };
  Object.assign(FakeWebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  globalThis.WebSocket = FakeWebSocket;
  globalThis.document = new EventTarget();
  try {
    const { PushappClient } = await import("../../pushapp/static/pushapp/pushapp.mjs");
    const client = new PushappClient({ url: "/ws/push/", token: "tok" });
    assert.equal(client.url, "wss://example.com/ws/push/");
    assert.equal(sockets.length, 1);
    sockets[0].readyState = 1;
    sockets[0].onopen({});
    assert.deepEqual(sockets[0].sent, [{ type: "auth", token: "tok" }]);
    client.close();
  } finally {
    delete globalThis.window;
    delete globalThis.WebSocket;
    delete globalThis.document;
  }
});
