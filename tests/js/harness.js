/*
 * The harness of the pushapp.js tests (tests/js/*.test.js): the real file runs in a vm context whose
 * WebSocket, EventSource, fetch, timers, clock, visibility and Math.random are fakes the tests drive.
 */
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const SOURCE = fs.readFileSync(path.join(__dirname, "..", "..", "pushapp", "static", "pushapp", "pushapp.js"), "utf8");

const settle = async () => {
  for (let i = 0; i < 10; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

/* Timers on a clock that only moves when a test says so. */
class Clock {
  constructor() {
    this.now = 1700000000000;
    this.timers = new Map();
    this.nextId = 1;
    this.errors = [];
  }

  add(fn, ms, every) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + (ms || 0), fn, every });
    return id;
  }

  async tick(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next[1].at)) next = [id, timer];
      }
      if (next === null) break;
      const [id, timer] = next;
      this.now = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      try {
        timer.fn();
      } catch (error) {
        this.errors.push(error);
      }
      await settle();
    }
    this.now = end;
    await settle();
  }
}

/* A sessionStorage of one tab: pass the same one to a second load() to simulate a reload of the page. */
class FakeStorage {
  constructor() {
    this.items = new Map();
  }

  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }

  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

function load({ dataset = null, cookie = "", href = "https://example.com/page", random = 0.5, storage = new FakeStorage() } = {}) {
  const clock = new Clock();
  const sockets = [];
  const fetches = [];
  const sources = [];
  const env = { clock, sockets, sources, fetches, respond: () => ({ status: 200, body: {} }) };

  /* An EventSource the tests play the server of; it never reconnects by itself here (the client must not
     rely on that anyway: it closes it on error). */
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.closed = false;
      this.listeners = {};
      sources.push(this);
    }

    addEventListener(name, fn) {
      (this.listeners[name] = this.listeners[name] || []).push(fn);
    }

    close() {
      this.closed = true;
      this.readyState = 2;
    }

    // The server's side:
    open() {
      this.readyState = 1;
      if (this.onopen) this.onopen({});
    }

    receive(frame, id) {
      if (id !== undefined) this.lastEventId = id;
      if (this.onmessage) this.onmessage({ data: JSON.stringify(frame), lastEventId: this.lastEventId || "" });
    }

    welcome(extra) {
      this.receive(Object.assign({ type: "welcome", client_id: "c".repeat(48), uid: "7", ping_interval: 25, proof: "p",
        sse: { post: "/ws/push/sse/" + "c".repeat(48) + "/", proof: "sse-proof" } }, extra));
    }

    serverClose(code, reason) {
      (this.listeners.close || []).forEach((fn) => fn({ data: JSON.stringify({ code, reason: reason || "" }) }));
    }

    fail() {
      this.readyState = 2;
      if (this.onerror) this.onerror({});
    }
  }

  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = FakeWebSocket.CONNECTING;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }

    send(text) {
      if (this.readyState !== FakeWebSocket.OPEN) throw new Error("send on a socket that is not open");
      this.sent.push(text);
    }

    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = FakeWebSocket.CLOSING;
    }

    // The server's side:
    open() {
      this.readyState = FakeWebSocket.OPEN;
      if (this.onopen) this.onopen({});
    }

    receive(data) {
      if (this.onmessage) this.onmessage({ data: typeof data === "object" && !(data instanceof ArrayBuffer) ? JSON.stringify(data) : data });
    }

    welcome(extra) {
      this.receive(Object.assign({ type: "welcome", client_id: "c".repeat(48), uid: "7", ping_interval: 25, proof: "p" }, extra));
    }

    serverClose(code, reason) {
      this.readyState = FakeWebSocket.CLOSED;
      if (this.onclose) this.onclose({ code, reason: reason || "", wasClean: true });
    }

    frames() {
      return this.sent.map((text) => JSON.parse(text));
    }
  }
  Object.assign(FakeWebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });

  const document = new EventTarget();
  document.cookie = cookie;
  document.currentScript = dataset ? { dataset } : null;
  const sandbox = {
    document,
    location: { href },
    WebSocket: FakeWebSocket,
    EventSource: FakeEventSource,
    URL,
    URLSearchParams,
    CustomEvent,
    console,
    setTimeout: (fn, ms) => clock.add(fn, ms, null),
    setInterval: (fn, ms) => clock.add(fn, ms, ms),
    clearTimeout: (id) => clock.timers.delete(id),
    clearInterval: (id) => clock.timers.delete(id),
    Date: { now: () => clock.now },
    Math: Object.assign(Object.create(Math), { random: () => random }),
    sessionStorage: storage,
    fetch: (url, init) => {
      fetches.push({ url, init });
      const { status, body } = env.respond(url, init);
      return Promise.resolve({ ok: status >= 200 && status < 300, status, json: () => Promise.resolve(body) });
    },
  };
  sandbox.window = sandbox;
  vm.createContext(sandbox);
  vm.runInContext(SOURCE, sandbox);
  env.window = sandbox;
  env.document = document;
  env.client = (options) => new sandbox.PushappClient(options);
  return env;
}

/* Events as [name, detail]; details copied into this realm, so deepEqual does not trip over prototypes. */
function record(client) {
  const events = [];
  const copy = (detail) => (detail instanceof ArrayBuffer || typeof detail !== "object" ? detail : JSON.parse(JSON.stringify(detail)));
  ["message", "welcome", "open", "close", "error", "recovered", "missed"].forEach((name) => client.on(name, (detail) => events.push([name, copy(detail)])));
  return events;
}

module.exports = { Clock, FakeStorage, load, record, settle };
