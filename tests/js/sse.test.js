/*
 * The SSE transport (docs/javascript.md, "Server-sent events"), on the fakes of harness.js: a ticket for the
 * token, an EventSource for server frames, POSTs with the proof for client frames, the same close codes.
 */
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { FakeStorage, load, settle } = require("./harness");

const TICKET_URL = "/pushapp/sse-ticket/";
const POST = "/ws/push/sse/" + "c".repeat(48) + "/";

/* A server whose ticket endpoint hands out T1, T2…, and accepts every POSTed frame (204). */
function serve(env, { ticketStatus = () => 200 } = {}) {
  let tickets = 0;
  env.respond = (url, init) => {
    if (url === TICKET_URL) {
      const status = ticketStatus(JSON.parse(init.body));
      if (status !== 200) return { status, body: { error: "bad_token" } };
      tickets += 1;
      return { status: 200, body: { ticket: "T" + tickets, expires: 0 } };
    }
    if (url === POST) return { status: 204, body: null };
    if (url === "/pushapp/token/") return { status: 200, body: { token: "fresh", max_age: 3600 } };
    return { status: 404, body: null };
  };
}

const posted = (env) => env.fetches.filter((f) => f.url === POST).map((f) => JSON.parse(f.init.body));
const tickets = (env) => env.fetches.filter((f) => f.url === TICKET_URL).map((f) => JSON.parse(f.init.body).token);
const query = (source) => Object.fromEntries(new URL(source.url).searchParams);

async function sse(options, env = load()) {
  serve(env);
  const client = env.client(Object.assign({ url: "/ws/push/", token: "t", transport: "sse", sseTicketUrl: TICKET_URL }, options));
  await settle();
  return { env, client };
}

test("sse: a ticket for the token, an EventSource with it, then the welcome; no WebSocket", async () => {
  const { env, client } = await sse();
  assert.equal(env.sockets.length, 0);
  assert.equal(client.activeTransport, "sse");
  assert.deepEqual(tickets(env), ["t"]);
  const ticketRequest = env.fetches[0].init;
  assert.equal(ticketRequest.method, "POST");
  assert.equal(ticketRequest.headers["Content-Type"], "application/json");
  assert.equal(env.sources.length, 1);
  const source = env.sources[0];
  assert.equal(source.url.split("?")[0], "https://example.com/ws/push/sse/");
  assert.deepEqual(query(source), { ticket: "T1" });
  const opened = [];
  client.on("open", (detail) => opened.push(detail.url));
  client.on("welcome", () => opened.push("welcome"));
  source.open();
  source.welcome();
  assert.deepEqual(opened, ["https://example.com/ws/push/sse/", "welcome"]);
  assert.equal(client.connected, true);
  assert.equal(client.clientId, "c".repeat(48));
});

test("sse: client frames are POSTed to the welcome's sse.post with its proof, in order; pushes are messages", async () => {
  const { env, client } = await sse();
  const messages = [];
  client.on("message", (data) => messages.push(data));
  const source = env.sources[0];
  source.open();
  source.welcome();
  client.subscribe("room");
  assert.equal(client.send({ hello: 1 }), true);
  client.unsubscribe("room");
  source.receive({ type: "push", stream: "uid:7", offset: 3, epoch: "e", data: "pushed" }, "id-3");
  await env.clock.tick(500); // the ack's batch
  assert.deepEqual(posted(env), [
    { type: "subscribe", group: "room" },
    { type: "message", data: { hello: 1 } },
    { type: "unsubscribe", group: "room" },
    { type: "ack", stream: "uid:7", offset: 3 },
  ]);
  const post = env.fetches.find((f) => f.url === POST).init;
  assert.equal(post.method, "POST");
  assert.equal(post.headers["X-Pushapp-Proof"], "sse-proof");
  assert.deepEqual(messages, ["pushed"]);
  await env.clock.tick(60000);
  assert.equal(posted(env).length, 4); // no pings over SSE: the server's comments keep the stream alive
});

test("sse: a failed POST is an error event", async () => {
  const { env, client } = await sse();
  const errors = [];
  client.on("error", (detail) => errors.push(detail));
  env.sources[0].open();
  env.sources[0].welcome();
  const respond = env.respond;
  env.respond = (url, init) => (url === POST ? { status: 403, body: null } : respond(url, init));
  client.send("x");
  await settle();
  assert.deepEqual(JSON.parse(JSON.stringify(errors)), [{ code: "sse_post", detail: "POST of a client frame failed", status: 403 }]);
});

test("sse: an error closes the EventSource; a fresh ticket and the last event id open the next one", async () => {
  const { env, client } = await sse();
  const closes = [];
  client.on("close", (detail) => closes.push(detail));
  const first = env.sources[0];
  first.open();
  first.welcome();
  first.receive({ type: "push", stream: "uid:7", offset: 4, epoch: "e", data: "a" }, "pos-4");
  first.fail();
  assert.equal(first.closed, true); // not left to EventSource's own reconnect: its ticket is spent
  assert.equal(client.connected, false);
  assert.deepEqual([closes[0].code, closes[0].willReconnect], [1006, true]);
  await env.clock.tick(60000);
  assert.equal(env.sources.length, 2);
  assert.deepEqual(query(env.sources[1]), { ticket: "T2", last_event_id: "pos-4" });
});

test("sse: the server's close event has the WebSocket's close codes", async () => {
  for (const [code, again] of [[4001, false], [4008, false], [4004, false], [1000, false], [1012, true], [4003, true]]) {
    const { env, client } = await sse();
    const closes = [];
    client.on("close", (detail) => closes.push(detail));
    env.sources[0].open();
    env.sources[0].welcome();
    env.sources[0].serverClose(code, "why");
    assert.equal(env.sources[0].closed, true);
    assert.deepEqual([closes[0].code, closes[0].reason, closes[0].willReconnect], [code, "why", again], String(code));
    await env.clock.tick(60000);
    assert.equal(env.sources.length, again ? 2 : 1, String(code));
  }
});

test("sse: a draining server's reconnect frame sets the time of the next attempt", async () => {
  const { env, client } = await sse({}, load({ random: 0.99 }));
  const closes = [];
  client.on("close", (detail) => closes.push(detail));
  env.sources[0].open();
  env.sources[0].welcome();
  env.sources[0].receive({ type: "reconnect", delay: 3 });
  env.sources[0].serverClose(1012, "draining");
  assert.equal(closes[0].delay, 3);
});

test("sse: 4002 fetches a fresh token, then a ticket for it", async () => {
  const { env } = await sse({ tokenUrl: "/pushapp/token/" });
  env.sources[0].open();
  env.sources[0].welcome();
  env.sources[0].serverClose(4002, "token expired");
  await env.clock.tick(60000);
  assert.deepEqual(tickets(env), ["t", "fresh"]);
  assert.equal(env.sources.length, 2);
});

test("sse: a refused ticket (401) means a fresh token with tokenUrl, and stops when even that is refused", async () => {
  const env = load();
  const client = env.client({ url: "/ws/push/", token: "old", tokenUrl: "/pushapp/token/", transport: "sse", sseTicketUrl: TICKET_URL, lazy: true });
  serve(env, { ticketStatus: (body) => (body.token === "old" ? 401 : 200) });
  const errors = [];
  client.on("error", (detail) => errors.push(detail));
  client.connect();
  await settle();
  assert.deepEqual([errors[0].code, errors[0].status, errors[0].willReconnect], ["sse_ticket", 401, true]);
  await env.clock.tick(60000);
  assert.deepEqual(tickets(env), ["old", "fresh"]);
  assert.equal(env.sources.length, 1);

  const refused = load();
  serve(refused, { ticketStatus: () => 401 });
  const stopped = refused.client({ url: "/ws/push/", token: "bad", transport: "sse", sseTicketUrl: TICKET_URL });
  const seen = [];
  stopped.on("error", (detail) => seen.push(detail));
  await settle();
  assert.deepEqual([seen[0].code, seen[0].willReconnect], ["sse_ticket", false]);
  await refused.clock.tick(60000);
  assert.deepEqual(tickets(refused), ["bad"]);
  assert.equal(stopped.reconnectScheduled, false);
});

test("sse: a failing ticket endpoint (500) is retried with backoff", async () => {
  const env = load();
  let status = 500;
  serve(env, { ticketStatus: () => status });
  env.client({ url: "/ws/push/", token: "t", transport: "sse", sseTicketUrl: TICKET_URL });
  await settle();
  assert.equal(env.sources.length, 0);
  status = 200;
  await env.clock.tick(60000);
  assert.equal(env.sources.length, 1);
});

test("sse: a reload of the page recovers from the last event id it saw", async () => {
  const storage = new FakeStorage();
  const before = (await sse({}, load({ storage }))).env;
  before.sources[0].open();
  before.sources[0].welcome();
  before.sources[0].receive({ type: "push", stream: "uid:7", offset: 9, epoch: "e", data: "seen" }, "pos-9");
  const after = (await sse({}, load({ storage }))).env;
  assert.deepEqual(query(after.sources[0]), { ticket: "T1", last_event_id: "pos-9" });
});

test("auto: two WebSocket attempts that never opened fall back to SSE, for the rest of the tab's life", async () => {
  const storage = new FakeStorage();
  const env = load({ storage });
  serve(env);
  const client = env.client({ url: "/ws/push/", token: "t", sseTicketUrl: TICKET_URL });
  assert.equal(client.transport, "auto");
  assert.equal(client.activeTransport, "websocket");
  const closes = [];
  client.on("close", (detail) => closes.push(detail));
  env.sockets[0].serverClose(1006); // a proxy that refuses the upgrade
  await env.clock.tick(60000);
  assert.equal(env.sockets.length, 2);
  env.sockets[1].serverClose(1006);
  assert.equal(client.activeTransport, "sse");
  assert.equal(closes[1].delay, 0); // at once: no backoff for the switch
  await env.clock.tick(0);
  assert.equal(env.sockets.length, 2);
  assert.equal(env.sources.length, 1);
  env.sources[0].open();
  env.sources[0].welcome();
  assert.equal(client.connected, true);

  const reloaded = load({ storage });
  serve(reloaded);
  const again = reloaded.client({ url: "/ws/push/", token: "t", sseTicketUrl: TICKET_URL });
  await settle();
  assert.equal(again.activeTransport, "sse");
  assert.equal(reloaded.sockets.length, 0);
  assert.equal(reloaded.sources.length, 1);
});

test("auto: a WebSocket that got through resets the count; 1006 after frames is no proxy", async () => {
  const env = load();
  serve(env);
  const client = env.client({ url: "/ws/push/", token: "t", sseTicketUrl: TICKET_URL });
  env.sockets[0].serverClose(1006);
  await env.clock.tick(60000);
  env.sockets[1].open();
  env.sockets[1].welcome();
  env.sockets[1].serverClose(1006); // a network failure of a working connection
  await env.clock.tick(60000);
  env.sockets[2].serverClose(1006);
  await env.clock.tick(60000);
  assert.equal(client.activeTransport, "websocket");
  assert.equal(env.sockets.length, 4);
  assert.equal(env.sources.length, 0);
});

test("auto: once a WebSocket was welcomed in the tab, failures are an outage, never a fallback", async () => {
  const storage = new FakeStorage();
  const env = load({ storage });
  serve(env);
  const client = env.client({ url: "/ws/push/", token: "t", sseTicketUrl: TICKET_URL });
  env.sockets[0].open();
  env.sockets[0].welcome();
  env.sockets[0].serverClose(1006); // the server was killed: attempts fail until it is back
  for (let i = 1; i <= 4; i += 1) {
    await env.clock.tick(60000);
    env.sockets[i].serverClose(1006);
  }
  await env.clock.tick(60000);
  assert.equal(client.activeTransport, "websocket");
  assert.equal(env.sources.length, 0);

  const reloaded = load({ storage }); // a reload during the outage: still no proxy
  serve(reloaded);
  const again = reloaded.client({ url: "/ws/push/", token: "t", sseTicketUrl: TICKET_URL });
  for (let i = 0; i < 3; i += 1) {
    reloaded.sockets[i].serverClose(1006);
    await reloaded.clock.tick(60000);
  }
  assert.equal(again.activeTransport, "websocket");
  assert.equal(reloaded.sources.length, 0);
});

test("no fallback with transport websocket, or without a ticket URL", async () => {
  for (const options of [{ transport: "websocket", sseTicketUrl: TICKET_URL }, {}]) {
    const env = load();
    serve(env);
    const client = env.client(Object.assign({ url: "/ws/push/", token: "t" }, options));
    for (let i = 0; i < 3; i += 1) {
      env.sockets[i].serverClose(1006);
      await env.clock.tick(60000);
    }
    assert.equal(client.activeTransport, "websocket");
    assert.equal(env.sources.length, 0);
  }
});

test("options: sseUrl defaults to the WebSocket URL over http(s) plus sse/; bad transports are refused", () => {
  const env = load();
  const lazy = { token: "t", lazy: true, sseTicketUrl: TICKET_URL };
  assert.equal(env.client(Object.assign({ url: "wss://push.example.com/ws/push/" }, lazy)).sseUrl, "https://push.example.com/ws/push/sse/");
  assert.equal(env.client(Object.assign({ url: "ws://localhost:8000/ws" }, lazy)).sseUrl, "http://localhost:8000/ws/sse/");
  assert.equal(env.client(Object.assign({ url: "/ws/push/", sseUrl: "/events/" }, lazy)).sseUrl, "https://example.com/events/");
  assert.throws(() => env.client({ url: "/ws/push/", transport: "sse", lazy: true }), /sseTicketUrl/);
  assert.throws(() => env.client({ url: "/ws/push/", transport: "long-polling", lazy: true }), /transport/);
});

test("the script tag's data-sse-ticket-url configures the fallback", () => {
  const env = load({ dataset: { url: "/ws/push/", token: "tok", sseTicketUrl: TICKET_URL, lazy: "true" } });
  assert.equal(env.window.pushapp.sseTicketUrl, TICKET_URL);
  assert.equal(env.window.pushapp.transport, "auto");
});
