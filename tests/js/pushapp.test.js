/*
 * Behaviour of pushapp.js without a browser, on the fakes of harness.js. Run: node --test tests/js/
 */
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { FakeStorage, load, record } = require("./harness");

test("the script tag's instance connects to the data-url and authenticates first", async () => {
  const env = load({ dataset: { url: "/ws/push/", token: "tok", tokenMaxAge: "3600" } });
  const client = env.window.pushapp;
  assert.ok(client instanceof env.window.PushappClient);
  assert.equal(env.sockets.length, 1);
  assert.equal(env.sockets[0].url, "wss://example.com/ws/push/");
  env.sockets[0].open();
  assert.deepEqual(env.sockets[0].frames(), [{ type: "auth", token: "tok" }]);
});

test("ws URLs follow the page's scheme; absolute ws URLs are kept", () => {
  const env = load({ href: "http://localhost:8000/x/" });
  assert.equal(env.client({ url: "/ws/push/", lazy: true }).url, "ws://localhost:8000/ws/push/");
  assert.equal(env.client({ url: "wss://push.example.com/ws/", lazy: true }).url, "wss://push.example.com/ws/");
});

test("without data-url there is no instance; lazy waits for connect()", () => {
  assert.equal(load().window.pushapp, null);
  const env = load({ dataset: { url: "/ws/push/", token: "t", lazy: "true" } });
  assert.equal(env.sockets.length, 0);
  env.window.pushapp.connect();
  assert.equal(env.sockets.length, 1);
});

test("an empty token is sent as null", () => {
  const env = load({ dataset: { url: "/ws/push/", token: "" } });
  env.sockets[0].open();
  assert.deepEqual(env.sockets[0].frames(), [{ type: "auth", token: null }]);
});

test("the welcome exposes the connection and emits welcome, as a DOM event too", () => {
  const env = load();
  const dom = [];
  env.document.addEventListener("pushapp:welcome", (event) => dom.push(event.detail));
  const client = env.client({ url: "/ws/push/", token: "t" });
  const events = record(client);
  env.sockets[0].open();
  assert.equal(client.connected, false);
  env.sockets[0].welcome();
  assert.equal(client.connected, true);
  assert.equal(client.clientId, "c".repeat(48));
  assert.equal(client.uid, "7");
  assert.equal(client.proof, "p");
  const expected = { clientId: "c".repeat(48), uid: "7", proof: "p", pingInterval: 25 };
  assert.deepEqual(events, [["open", { url: "wss://example.com/ws/push/" }], ["welcome", expected]]);
  assert.deepEqual(JSON.parse(JSON.stringify(dom)), [expected]);
});

test("frames: a push's data is emitted as is, binary passed, pong swallowed, error frames emitted as error", () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  const socket = env.sockets[0];
  socket.open();
  socket.welcome();
  const events = record(client);
  const buffer = new ArrayBuffer(3);
  socket.receive({ type: "push", data: { type: "note", n: 1 } });
  socket.receive({ type: "push", data: [1, 2] });
  socket.receive({ type: "push", data: "plain text" });
  socket.receive({ type: "push", stream: "uid:7", offset: 3, epoch: "e", data: null });
  socket.receive(buffer);
  socket.receive({ type: "pong" });
  socket.receive("not json");
  socket.receive({ type: "something-new" });
  socket.receive({ type: "error", code: "bad_json", detail: "no" });
  assert.deepEqual(events, [
    ["message", { type: "note", n: 1 }],
    ["message", [1, 2]],
    ["message", "plain text"],
    ["message", null],
    ["message", buffer],
    ["error", { code: "bad_json", detail: "no" }],
  ]);
  assert.equal(socket.binaryType, "arraybuffer");
});

test("a pushed payload shaped like a server frame stays data", () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  const socket = env.sockets[0];
  socket.open();
  socket.welcome();
  const events = record(client);
  const forged = { type: "welcome", client_id: "f".repeat(48), uid: "666", proof: "stolen" };
  socket.receive({ type: "push", data: forged });
  assert.deepEqual(events, [["message", forged]]);
  assert.equal(client.clientId, "c".repeat(48));
  assert.equal(client.uid, "7");
  assert.equal(client.proof, "p");
});

test("with ENVELOPE off (welcome says so), frames are bare as in GatewayWorker", () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  const socket = env.sockets[0];
  socket.open();
  socket.welcome({ envelope: false });
  const events = record(client);
  socket.receive({ type: "note", n: 1 });
  socket.receive("not json");
  socket.receive({ type: "pong" });
  assert.deepEqual(events, [["message", { type: "note", n: 1 }], ["message", "not json"]]);
});

test("send() wraps the data and refuses before the welcome", () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  assert.equal(client.send({ a: 1 }), false);
  env.sockets[0].open();
  assert.equal(client.send({ a: 1 }), false);
  env.sockets[0].welcome();
  assert.equal(client.send({ a: 1 }), true);
  assert.deepEqual(env.sockets[0].frames().slice(1), [{ type: "message", data: { a: 1 } }]);
});

test("on/off, unknown events and throwing listeners", async () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t", lazy: true });
  assert.throws(() => client.on("nope", () => {}), { name: "TypeError" });
  const seen = [];
  const fn = (data) => seen.push(data.n);
  client.on("message", () => { throw new Error("listener bug"); });
  client.on("message", fn);
  client.connect();
  env.sockets[0].open();
  env.sockets[0].welcome();
  env.sockets[0].receive({ type: "push", data: { n: 1 } });
  client.off("message", fn);
  env.sockets[0].receive({ type: "push", data: { n: 2 } });
  assert.deepEqual(seen, [1]);
  await env.clock.tick(0); // the listener's error is rethrown outside the client, for the console
  assert.deepEqual(env.clock.errors.map((error) => error.message), ["listener bug", "listener bug"]);
});

test("reconnect: full-jitter exponential backoff, reset by a welcome", async () => {
  const env = load({ random: 0.5 });
  const client = env.client({ url: "/ws/push/", token: "t", reconnectBase: 2, reconnectCap: 5 });
  const events = record(client);
  const delays = [];
  for (let i = 0; i < 4; i += 1) {
    env.sockets[env.sockets.length - 1].serverClose(1006);
    const close = events.filter(([name]) => name === "close").pop()[1];
    assert.equal(close.willReconnect, true);
    delays.push(close.delay);
    await env.clock.tick(close.delay * 1000 - 1);
    assert.equal(env.sockets.length, i + 1);
    await env.clock.tick(1);
    assert.equal(env.sockets.length, i + 2);
  }
  assert.deepEqual(delays, [1, 2, 2.5, 2.5]); // 0.5 × min(5, 2 × 2^n)
  const socket = env.sockets[env.sockets.length - 1];
  socket.open();
  socket.welcome();
  socket.serverClose(1012);
  assert.equal(events.filter(([name]) => name === "close").pop()[1].delay, 1);
  assert.equal(client.connected, false);
  assert.equal(client.clientId, null);
});

test("a draining server's reconnect delay replaces the jitter, even when the socket closes sooner", async () => {
  const env = load({ random: 0.5 });
  const client = env.client({ url: "/ws/push/", token: "t", reconnectBase: 2 });
  const events = record(client);
  env.sockets[0].open();
  env.sockets[0].welcome();
  env.sockets[0].receive({ type: "reconnect", delay: 7.5 });
  assert.equal(events.filter(([name]) => name === "message").length, 0); // not a push
  await env.clock.tick(2500);
  env.sockets[0].serverClose(1012);
  const close = events.filter(([name]) => name === "close").pop()[1];
  assert.equal(close.willReconnect, true);
  assert.equal(close.delay, 5); // 7.5 s after the frame, not random(0, 2)
  await env.clock.tick(4999);
  assert.equal(env.sockets.length, 1);
  await env.clock.tick(1);
  assert.equal(env.sockets.length, 2);
  env.sockets[1].serverClose(1006); // the next failure is back to the backoff, starting afresh
  assert.equal(events.filter(([name]) => name === "close").pop()[1].delay, 2); // 0.5 × 2 × 2^1
});

test("a close after the server's time has passed reconnects at once", async () => {
  const env = load({ random: 0.5 });
  const client = env.client({ url: "/ws/push/", token: "t" });
  const events = record(client);
  env.sockets[0].open();
  env.sockets[0].welcome();
  env.sockets[0].receive({ type: "reconnect", delay: 1 });
  await env.clock.tick(1000);
  env.sockets[0].serverClose(1012);
  assert.equal(events.filter(([name]) => name === "close").pop()[1].delay, 0);
  await env.clock.tick(0);
  assert.equal(env.sockets.length, 2);
});

for (const code of [1000, 4001, 4004, 4008]) {
  test(`no reconnect after close code ${code}`, async () => {
    const env = load();
    const client = env.client({ url: "/ws/push/", token: "t" });
    const events = record(client);
    env.sockets[0].open();
    env.sockets[0].serverClose(code);
    assert.deepEqual(events.pop(), ["close", { code, reason: "", wasClean: true, willReconnect: false, delay: null }]);
    await env.clock.tick(120000);
    assert.equal(env.sockets.length, 1);
  });
}

test("close() stops reconnecting; connect() starts again", async () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  const events = record(client);
  env.sockets[0].open();
  env.sockets[0].welcome();
  client.close();
  assert.deepEqual(env.sockets[0].closedWith, { code: 1000, reason: "closed by the page" });
  assert.equal(events.pop()[1].willReconnect, false);
  await env.clock.tick(120000);
  assert.equal(env.sockets.length, 1);
  client.connect();
  assert.equal(env.sockets.length, 2);
});

test("close() during the backoff cancels the pending reconnect", async () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  env.sockets[0].serverClose(1006);
  client.close();
  await env.clock.tick(120000);
  assert.equal(env.sockets.length, 1);
});

test("4002: a fresh token is fetched, then used to reconnect", async () => {
  const env = load();
  env.respond = () => ({ status: 200, body: { token: "fresh", max_age: 60 } });
  const client = env.client({ url: "/ws/push/", token: "old", tokenUrl: "/pushapp/token/", tokenMaxAge: 3600 });
  env.sockets[0].open();
  env.sockets[0].serverClose(4002);
  await env.clock.tick(30000);
  assert.equal(env.fetches.length, 1);
  assert.equal(env.fetches[0].url, "/pushapp/token/");
  assert.equal(env.fetches[0].init.credentials, "same-origin");
  assert.equal(env.sockets.length, 2);
  env.sockets[1].open();
  assert.deepEqual(env.sockets[1].frames(), [{ type: "auth", token: "fresh" }]);
  assert.equal(client.connected, false);
});

test("4002 without a token URL: the same token would fail again, so no reconnect", async () => {
  const env = load();
  env.client({ url: "/ws/push/", token: "old" });
  env.sockets[0].serverClose(4002);
  await env.clock.tick(120000);
  assert.equal(env.sockets.length, 1);
});

test("the token is refreshed at 80 % of its lifetime, and before a reconnect past half of it", async () => {
  const env = load();
  let n = 0;
  env.respond = () => ({ status: 200, body: { token: "t" + (++n), max_age: 100 } });
  env.client({ url: "/ws/push/", token: "t0", tokenUrl: "/pushapp/token/", tokenMaxAge: 100 });
  env.sockets[0].open();
  env.sockets[0].welcome({ ping_interval: 0 });
  await env.clock.tick(79999);
  assert.equal(env.fetches.length, 0);
  await env.clock.tick(1);
  assert.equal(env.fetches.length, 1); // t1, obtained at 80 s
  await env.clock.tick(51000); // t1 is now 51 s old: past half of 100 s
  env.sockets[0].serverClose(1006);
  await env.clock.tick(1000);
  assert.equal(env.fetches.length, 2);
  env.sockets[1].open();
  assert.deepEqual(env.sockets[1].frames(), [{ type: "auth", token: "t2" }]);
});

test("a token refreshed while connected is handed to the server in-band", async () => {
  const env = load();
  env.respond = () => ({ status: 200, body: { token: "t1", max_age: 100 } });
  const client = env.client({ url: "/ws/push/", token: "t0", tokenUrl: "/pushapp/token/", tokenMaxAge: 100 });
  const events = record(client);
  env.sockets[0].open();
  env.sockets[0].welcome({ ping_interval: 0 });
  await env.clock.tick(80000);
  assert.deepEqual(env.sockets[0].frames().slice(-1), [{ type: "refresh", token: "t1" }]);
  env.sockets[0].receive({ type: "refreshed", expires: 1900000000 });
  assert.equal(events.filter(([name]) => name === "message").length, 0); // a server frame, not a push
  assert.equal(client.connected, true);
});

test("a young token is reused on reconnect without a fetch", async () => {
  const env = load();
  env.client({ url: "/ws/push/", token: "t0", tokenUrl: "/pushapp/token/", tokenMaxAge: 100 });
  env.sockets[0].serverClose(1006);
  await env.clock.tick(1000);
  assert.equal(env.fetches.length, 0);
  env.sockets[1].open();
  assert.deepEqual(env.sockets[1].frames(), [{ type: "auth", token: "t0" }]);
});

test("a 403 from the token URL (logged out) stops the client", async () => {
  const env = load();
  env.respond = () => ({ status: 403, body: { error: "login_required" } });
  const client = env.client({ url: "/ws/push/", tokenUrl: "/pushapp/token/", lazy: true });
  const events = record(client);
  client.connect();
  await env.clock.tick(0);
  assert.equal(env.sockets.length, 0);
  assert.equal(events.length, 1);
  assert.equal(events[0][0], "error");
  assert.equal(events[0][1].code, "token");
  assert.equal(events[0][1].status, 403);
  assert.equal(events[0][1].willReconnect, false);
  await env.clock.tick(120000);
  assert.equal(env.fetches.length, 1);
});

test("a failing token URL (500) is retried with backoff", async () => {
  const env = load();
  let status = 500;
  env.respond = () => ({ status, body: status === 200 ? { token: "ok", max_age: 60 } : null });
  env.client({ url: "/ws/push/", tokenUrl: "/pushapp/token/" });
  await env.clock.tick(0);
  assert.equal(env.sockets.length, 0);
  status = 200;
  await env.clock.tick(500);
  assert.equal(env.fetches.length, 2);
  assert.equal(env.sockets.length, 1);
});

test("heartbeat: a ping every interval; silence for two intervals means dead, then reconnect", async () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  const events = record(client);
  const socket = env.sockets[0];
  socket.open();
  socket.welcome({ ping_interval: 10 });
  await env.clock.tick(10000);
  assert.deepEqual(socket.frames().slice(1), [{ type: "ping" }]);
  await env.clock.tick(5000);
  socket.receive({ type: "pong" }); // alive: the deadline moves to 15 s + 20 s
  await env.clock.tick(19999);
  assert.equal(socket.closedWith, null);
  await env.clock.tick(1);
  assert.equal(socket.closedWith.code, 4000);
  const close = events.pop();
  assert.equal(close[0], "close");
  assert.equal(close[1].code, 4000);
  assert.equal(close[1].willReconnect, true);
  assert.equal(client.connected, false);
  await env.clock.tick(1000);
  assert.equal(env.sockets.length, 2);
});

test("ping_interval 0 disables the heartbeat", async () => {
  const env = load();
  env.client({ url: "/ws/push/", token: "t" });
  env.sockets[0].open();
  env.sockets[0].welcome({ ping_interval: 0 });
  await env.clock.tick(3600000);
  assert.equal(env.sockets[0].sent.length, 1);
  assert.equal(env.sockets[0].closedWith, null);
});

test("bind() posts client_id and proof with the CSRF cookie", async () => {
  const env = load({ cookie: "other=1; csrftoken=abc%3D" });
  env.respond = () => ({ status: 200, body: { bound: true } });
  const client = env.client({ url: "/ws/push/", token: "t", bindUrl: "/pushapp/bind/" });
  await assert.rejects(client.bind(), /not connected/);
  env.sockets[0].open();
  env.sockets[0].welcome();
  assert.deepEqual(await client.bind(), { bound: true });
  const { url, init } = env.fetches[0];
  assert.equal(url, "/pushapp/bind/");
  assert.equal(init.method, "POST");
  assert.equal(init.credentials, "same-origin");
  assert.equal(init.headers["X-CSRFToken"], "abc=");
  assert.equal(init.body.toString(), "client_id=" + "c".repeat(48) + "&proof=p");
});

test("bind() rejects with the status and the JSON answer of an error", async () => {
  const env = load();
  env.respond = () => ({ status: 400, body: { error: "invalid" } });
  const client = env.client({ url: "/ws/push/", token: "t", bindUrl: "/pushapp/bind/" });
  env.sockets[0].open();
  env.sockets[0].welcome();
  await assert.rejects(client.bind(), (error) => error.status === 400 && error.body.error === "invalid");
  await assert.rejects(env.client({ url: "/ws/push/", lazy: true }).bind(), /no bind URL/);
});


test("recovery: positions from the welcome and each push are sent back on reconnect", async () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  const first = env.sockets[0];
  first.open();
  assert.equal(first.frames()[0].recover, undefined); // nothing to recover yet
  first.welcome({ streams: { "uid:7": { offset: 4, epoch: "e1" }, "group:room": { offset: 0, epoch: "e2" } } });
  first.receive({ type: "push", stream: "uid:7", offset: 5, epoch: "e1", data: "x" });
  first.serverClose(1012);
  await env.clock.tick(60000);
  const second = env.sockets[1];
  second.open();
  assert.deepEqual(second.frames()[0], {
    type: "auth",
    token: "t",
    recover: { "uid:7": { offset: 5, epoch: "e1" }, "group:room": { offset: 0, epoch: "e2" } },
  });
  const events = record(client);
  second.welcome({ streams: { "uid:7": { offset: 9, epoch: "e1" }, "group:room": { offset: 3, epoch: "e3" } } });
  second.receive({ type: "push", stream: "uid:7", offset: 6, epoch: "e1", data: "replayed" });
  second.receive({ type: "recovered", streams: { "uid:7": true, "group:room": false } });
  second.receive({ type: "missed" });
  assert.deepEqual(events.slice(1), [
    ["message", "replayed"],
    ["recovered", { streams: { "uid:7": true, "group:room": false } }],
    ["missed", { stream: null }],
  ]);
  assert.deepEqual(JSON.parse(JSON.stringify(client._positions)), { "uid:7": { offset: 6, epoch: "e1" }, "group:room": { offset: 3, epoch: "e3" } });
});

test("recovery: a reload of the page sends the positions the last page saw", () => {
  const storage = new FakeStorage();
  const before = load({ storage });
  before.client({ url: "/ws/push/", token: "t" });
  before.sockets[0].open();
  before.sockets[0].welcome({ streams: { "uid:7": { offset: 1, epoch: "e" } } });
  before.sockets[0].receive({ type: "push", stream: "uid:7", offset: 2, epoch: "e", data: "seen" });
  const after = load({ storage });
  after.client({ url: "/ws/push/", token: "t2" });
  after.sockets[0].open();
  assert.deepEqual(after.sockets[0].frames()[0].recover, { "uid:7": { offset: 2, epoch: "e" } });
  const elsewhere = load({ storage });
  elsewhere.client({ url: "/other/", token: "t3" }); // positions belong to one socket URL
  elsewhere.sockets[0].open();
  assert.equal(elsewhere.sockets[0].frames()[0].recover, undefined);
});

test("subscribe: sent once welcomed, answered by events, asked again after a reconnect, forgotten when refused", async () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  const events = [];
  ["subscribed", "unsubscribed", "presence", "error"].forEach((name) => client.on(name, (d) => events.push([name, JSON.parse(JSON.stringify(d))])));
  client.subscribe("room:1").subscribe("secret");
  let socket = env.sockets[0];
  socket.open();
  socket.welcome();
  assert.deepEqual(socket.frames().slice(1), [{ type: "subscribe", group: "room:1" }, { type: "subscribe", group: "secret" }]);
  socket.receive({ type: "subscribed", group: "room:1" });
  socket.receive({ type: "error", code: "subscribe_refused", detail: "staff only", group: "secret" });
  socket.receive({ type: "presence", group: "room:1", event: "join", uid: "8" });
  socket.receive({ type: "push", data: { type: "presence", group: "forged" } });
  assert.deepEqual(events, [
    ["subscribed", { group: "room:1" }],
    ["error", { code: "subscribe_refused", detail: "staff only", group: "secret" }],
    ["presence", { group: "room:1", event: "join", uid: "8" }],
  ]);
  socket.serverClose(1012);
  await env.clock.tick(60000);
  socket = env.sockets[1];
  socket.open();
  socket.welcome();
  assert.deepEqual(socket.frames().slice(1), [{ type: "subscribe", group: "room:1" }]);
  client.unsubscribe("room:1");
  assert.deepEqual(socket.frames().slice(2), [{ type: "unsubscribe", group: "room:1" }]);
  socket.receive({ type: "unsubscribed", group: "room:1" });
  assert.deepEqual(events.at(-1), ["unsubscribed", { group: "room:1" }]);
});

test("subscribe() in a welcome listener is sent once", () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "t" });
  client.on("welcome", () => client.subscribe("room:1"));
  const socket = env.sockets[0];
  socket.open();
  socket.welcome();
  assert.deepEqual(socket.frames().slice(1), [{ type: "subscribe", group: "room:1" }]);
});
