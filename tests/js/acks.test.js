/*
 * Acks and latest (docs/javascript.md, "Acknowledgements" and "The latest push"), on the fakes of harness.js.
 */
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { FakeStorage, load } = require("./harness");

const push = (stream, offset, data) => ({ type: "push", stream, offset, epoch: "e", data });
const acks = (socket) => socket.frames().filter((frame) => frame.type === "ack");

function welcomed(options, env = load()) {
  const client = env.client(Object.assign({ url: "/ws/push/", token: "t" }, options));
  const socket = env.sockets[0];
  socket.open();
  socket.welcome();
  return { env, client, socket };
}

test("acks: the highest offset per stream, one frame per stream per ackInterval; pushes without a stream are not acked", async () => {
  const { env, socket } = welcomed();
  socket.receive(push("uid:7", 1, "a"));
  socket.receive(push("uid:7", 2, "b"));
  socket.receive(push("group:room", 10, "c"));
  socket.receive({ type: "push", data: "no stream" });
  await env.clock.tick(499);
  assert.deepEqual(acks(socket), []); // batched
  await env.clock.tick(1);
  assert.deepEqual(acks(socket), [
    { type: "ack", stream: "uid:7", offset: 2 },
    { type: "ack", stream: "group:room", offset: 10 },
  ]);
  socket.receive(push("uid:7", 3, "d"));
  await env.clock.tick(500);
  assert.deepEqual(acks(socket).slice(2), [{ type: "ack", stream: "uid:7", offset: 3 }]);
  await env.clock.tick(5000);
  assert.equal(acks(socket).length, 3); // nothing new, nothing sent
});

test("acks: ack false sends none; ackInterval sets the batching window", async () => {
  const off = welcomed({ ack: false });
  off.socket.receive(push("uid:7", 1, "a"));
  await off.env.clock.tick(10000);
  assert.deepEqual(acks(off.socket), []);
  assert.equal(off.client.ack, false);

  const slow = welcomed({ ackInterval: 2000 });
  slow.socket.receive(push("uid:7", 1, "a"));
  await slow.env.clock.tick(1999);
  assert.deepEqual(acks(slow.socket), []);
  await slow.env.clock.tick(1);
  assert.deepEqual(acks(slow.socket), [{ type: "ack", stream: "uid:7", offset: 1 }]);
});

test("acks: held while the page is hidden, sent when it is visible again; ackWhenHidden sends them anyway", async () => {
  const { env, socket } = welcomed();
  env.document.visibilityState = "hidden";
  socket.receive(push("uid:7", 1, "a"));
  socket.receive(push("uid:7", 2, "b"));
  await env.clock.tick(5000);
  assert.deepEqual(acks(socket), []);
  env.document.dispatchEvent(new Event("visibilitychange")); // still hidden
  assert.deepEqual(acks(socket), []);
  env.document.visibilityState = "visible";
  env.document.dispatchEvent(new Event("visibilitychange"));
  assert.deepEqual(acks(socket), [{ type: "ack", stream: "uid:7", offset: 2 }]);

  const eager = load();
  eager.document.visibilityState = "hidden";
  const other = welcomed({ ackWhenHidden: true }, eager);
  other.socket.receive(push("uid:7", 4, "a"));
  await eager.clock.tick(500);
  assert.deepEqual(acks(other.socket), [{ type: "ack", stream: "uid:7", offset: 4 }]);
});

test("acks: what a closed connection had not acknowledged goes out after the next welcome", async () => {
  const { env, socket } = welcomed();
  socket.receive(push("uid:7", 5, "a"));
  socket.serverClose(1012);
  await env.clock.tick(60000);
  const second = env.sockets[1];
  second.open();
  assert.deepEqual(acks(second), []);
  second.welcome();
  assert.deepEqual(acks(second), [{ type: "ack", stream: "uid:7", offset: 5 }]);
});

test("latest: the auth frame asks for the uid's last push, the subscribes for their groups', where there is no position", async () => {
  const storage = new FakeStorage();
  const env = load({ storage });
  const client = env.client({ url: "/ws/push/", token: "t", latest: true, lazy: true });
  client.subscribe("room").subscribe("quiet", { latest: false }).connect();
  const socket = env.sockets[0];
  socket.open();
  assert.deepEqual(socket.frames()[0], { type: "auth", token: "t", latest: ["uid"] });
  socket.welcome();
  // The server follows a group's stream once subscribed: the subscribe asks for its last push.
  assert.deepEqual(socket.frames().slice(1), [
    { type: "subscribe", group: "room", latest: true },
    { type: "subscribe", group: "quiet" },
  ]);
  client.subscribe("later");
  client.subscribe("later-quiet", { latest: false });
  assert.deepEqual(socket.frames().slice(3), [
    { type: "subscribe", group: "later", latest: true },
    { type: "subscribe", group: "later-quiet" },
  ]);
  socket.receive(push("uid:7", 3, "the uid's last"));
  socket.receive(push("group:room", 8, "the room's last"));

  // A reconnect, or a reload: those streams now recover from their positions instead.
  const reloaded = load({ storage });
  const again = reloaded.client({ url: "/ws/push/", token: "t", latest: true, lazy: true });
  again.subscribe("room").subscribe("other").connect();
  const next = reloaded.sockets[0];
  next.open();
  const auth = next.frames()[0];
  assert.equal(auth.latest, undefined);
  assert.deepEqual(Object.keys(auth.recover).sort(), ["group:room", "uid:7"]);
  next.welcome();
  assert.deepEqual(next.frames().slice(1), [
    { type: "subscribe", group: "room" },
    { type: "subscribe", group: "other", latest: true },
  ]);
});

test("latest: off by default; subscribe(group, {latest: true}) asks anyway", () => {
  const { client, socket } = welcomed({});
  assert.equal(socket.frames()[0].latest, undefined);
  client.subscribe("room", { latest: true }).subscribe("plain");
  assert.deepEqual(socket.frames().slice(1), [
    { type: "subscribe", group: "room", latest: true },
    { type: "subscribe", group: "plain" },
  ]);
});
