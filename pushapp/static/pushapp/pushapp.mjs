/*
 * pushapp.mjs: the browser client of django-pushapp as an ES module (docs/javascript.md).
 * GENERATED from pushapp.js by tools/build-esm.mjs: do not edit, edit pushapp.js and run
 * `node tools/build-esm.mjs`. Types: pushapp.d.ts.
 */
const EVENTS = ["message", "welcome", "open", "close", "error", "recovered", "missed", "subscribed", "unsubscribed", "presence"];
const POSITIONS_KEY = "pushapp.positions:";
const TRANSPORT_KEY = "pushapp.transport:"; // "sse" once auto fell back, for the rest of the tab's life
const WEBSOCKET_KEY = "pushapp.websocket:"; // "ok" once a WebSocket was welcomed in this tab: never fall back
const EVENT_ID_KEY = "pushapp.sse-last-event-id:";
const TRANSPORTS = ["websocket", "sse", "auto"];
const FALLBACK_AFTER = 2; // WebSocket attempts in a row that never got through before auto tries SSE

/* sessionStorage survives a reload of the tab, not the tab itself; absent or refused (privacy modes),
   positions live in memory only. */
function storage() {
  try {
    return window.sessionStorage || null;
  } catch (error) {
    return null;
  }
}

function load(key) {
  const store = storage();
  try {
    return store ? store.getItem(key) : null;
  } catch (error) {
    return null;
  }
}

function save(key, value) {
  const store = storage();
  try {
    if (store) store.setItem(key, value);
  } catch (error) {
    // Storage full or refused: kept in memory only.
  }
}

function isFrame(value, type) {
  return value !== null && typeof value === "object" && !Array.isArray(value) && value.type === type;
}
// Close codes after which reconnecting cannot help (protocol section 7); 4008: access revoked.
const FINAL_CODES = [1000, 4001, 4004, 4008];
const HEARTBEAT_TIMEOUT = 4000;
const TOKEN_EXPIRED = 4002;
const MAX_DELAY_MS = 2147483647; // setTimeout fires at once for anything longer

function later(fn, ms) {
  return setTimeout(fn, Math.min(MAX_DELAY_MS, Math.max(0, ms)));
}

/* "/ws/push/", "https://host/ws/push/" or "wss://host/ws/push/" → an absolute ws: or wss: URL. */
function socketUrl(url) {
  const absolute = new URL(url, window.location.href);
  if (absolute.protocol === "http:") absolute.protocol = "ws:";
  if (absolute.protocol === "https:") absolute.protocol = "wss:";
  return absolute.href;
}

/* The SSE endpoint by default: the WebSocket URL over http(s), plus "sse/". */
function sseUrlOf(socket) {
  const url = new URL(socket);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  url.pathname += "sse/";
  url.search = url.hash = "";
  return url.href;
}

function cookie(name) {
  const prefix = name + "=";
  const found = document.cookie.split(/;\s*/).find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : null;
}

function httpError(what, response, body) {
  const error = new Error("pushapp: " + what + " failed with HTTP " + response.status);
  error.status = response.status;
  error.body = body;
  return error;
}

function positive(value) {
  const number = Number(value);
  return number > 0 ? number : null;
}

/*
 * The SSE transport behind the few members of a WebSocket the client uses (readyState, send, close and
 * the on* handlers): server frames come as the events of an EventSource, client frames go as POSTs to
 * the welcome's sse.post with its proof, one at a time and in order. EventSource's own reconnect is never
 * used (tickets are one-time): any error ends this "socket", and the client opens a new one.
 */
class SseSocket {
  constructor(url, onEventId) {
    this.kind = "sse";
    this.url = url;
    this.readyState = 0;
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    this._post = null;
    this._proof = null;
    this._queue = Promise.resolve();
    const source = new EventSource(url);
    source.onopen = () => {
      this.readyState = 1;
      if (this.onopen) this.onopen({});
    };
    source.onmessage = (event) => {
      if (event.lastEventId) onEventId(event.lastEventId);
      if (this.onmessage) this.onmessage({ data: event.data });
    };
    // The server's close: the same codes as the WebSocket's close frame.
    source.addEventListener("close", (event) => {
      let detail = {};
      try {
        detail = JSON.parse(event.data) || {};
      } catch (error) {
        // a close without a readable code: a network failure for the client
      }
      this._end({ code: Number(detail.code) || 1006, reason: String(detail.reason || ""), wasClean: true });
    });
    source.onerror = () => {
      if (this.onerror) this.onerror({});
      this._end({ code: 1006, reason: "", wasClean: false });
    };
    this._source = source;
  }

  /* From the welcome's "sse": where client frames go, and the proof they carry. */
  target(post, proof) {
    this._post = post;
    this._proof = proof;
  }

  send(text) {
    if (this.readyState !== 1 || !this._post) throw new Error("pushapp: the SSE connection is not ready");
    const post = this._post;
    const headers = { "Content-Type": "application/json", "X-Pushapp-Proof": this._proof };
    this._queue = this._queue.then(() => fetch(post, { method: "POST", body: text, headers: headers, credentials: "same-origin" })
      .then((response) => {
        if (!response.ok && this.onposterror) this.onposterror({ status: response.status });
      }, () => {
        if (this.onposterror) this.onposterror({ status: null });
      }));
  }

  close() {
    this.readyState = 3;
    this._source.onopen = this._source.onmessage = this._source.onerror = null;
    this._source.close();
  }

  _end(event) {
    if (this.readyState === 3) return;
    this.close();
    if (this.onclose) this.onclose(event);
  }
}

class PushappClient {
  /*
   * options: url (required), token, tokenUrl, tokenMaxAge (s), lazy, bindUrl,
   * reconnectBase (s, default 1), reconnectCap (s, default 30),
   * ack (default true), ackInterval (ms, default 500), ackWhenHidden (default false), latest (default false),
   * transport ("websocket", "sse" or "auto", the default), sseTicketUrl, sseUrl.
   */
  constructor(options) {
    const o = options || {};
    if (!o.url) throw new TypeError("PushappClient needs a url");
    this.url = socketUrl(o.url);
    this.tokenUrl = o.tokenUrl || null;
    this.bindUrl = o.bindUrl || null;
    this.reconnectBase = positive(o.reconnectBase) || 1;
    this.reconnectCap = positive(o.reconnectCap) || 30;
    this.ack = o.ack !== false;
    this.ackInterval = o.ackInterval === undefined || o.ackInterval === null ? 500 : Math.max(0, Number(o.ackInterval) || 0);
    this.ackWhenHidden = Boolean(o.ackWhenHidden);
    this.latest = Boolean(o.latest);
    this.transport = o.transport || "auto";
    if (!TRANSPORTS.includes(this.transport)) throw new TypeError("pushapp: transport must be one of " + TRANSPORTS.join(", "));
    this.sseTicketUrl = o.sseTicketUrl || null;
    this.sseUrl = o.sseUrl ? new URL(o.sseUrl, window.location.href).href : sseUrlOf(this.url);
    if (this.transport === "sse" && !this.sseTicketUrl) throw new TypeError("pushapp: the sse transport needs an sseTicketUrl");
    this._sse = this.transport === "sse" || (this.transport === "auto" && Boolean(this.sseTicketUrl) && load(TRANSPORT_KEY + this.url) === "sse");
    this._wsFailures = 0; // WebSocket attempts in a row that never got through (auto falls back after 2)
    this._wsWorked = load(WEBSOCKET_KEY + this.url) === "ok"; // then failures are outages, not a proxy
    this._lastEventId = load(EVENT_ID_KEY + this.url);
    this.clientId = null;
    this.uid = null;
    this.proof = null;
    this.pingInterval = 0;
    this.connected = false;
    this._token = o.token || null;
    this._tokenMaxAge = positive(o.tokenMaxAge);
    this._tokenTime = Date.now();
    this._tokenStale = false;
    this._tokenRequest = null;
    this._listeners = {};
    EVENTS.forEach((name) => { this._listeners[name] = []; });
    this._ws = null;
    this._opening = false;
    this._stopped = true;
    this._attempt = 0;
    this._retryTimer = null;
    this._refreshTimer = null;
    this._pingTimer = null;
    this._deadTimer = null;
    this._reconnectAt = null; // set by a "reconnect" frame: the server's time for the next attempt
    this._positions = this._loadPositions();
    this._welcomeStreams = {};
    this._subscriptions = new Map(); // group -> wants its latest push: asked again on every welcome
    this._acks = {}; // stream -> the highest offset received and not acknowledged yet
    this._ackTimer = null;
    this._onVisible = null;
    if (!o.lazy) this.connect();
  }

  /* "websocket" or "sse": what the next (or current) connection uses. */
  get activeTransport() {
    return this._sse ? "sse" : "websocket";
  }

  /* Whether a reconnect or a token refresh is waiting on a timer (false after 4001, 4004, 1000, close()). */
  get reconnectScheduled() {
    return this._retryTimer !== null;
  }

  get refreshScheduled() {
    return this._refreshTimer !== null;
  }

  on(name, fn) {
    this._handlers(name).push(fn);
    return this;
  }

  off(name, fn) {
    const list = this._handlers(name);
    const index = list.indexOf(fn);
    if (index >= 0) list.splice(index, 1);
    return this;
  }

  /* Open the connection (again, after close()); a no-op while one is open or opening. */
  connect() {
    this._stopped = false;
    if (this._ws || this._opening) return this;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._scheduleRefresh();
    this._open();
    return this;
  }

  /* Close for good: no reconnect until connect() is called. */
  close() {
    this._stop();
    if (this._ws) this._drop({ code: 1000, reason: "closed by the page", wasClean: true });
    return this;
  }

  /* Send {"type": "message", "data": data}. Nothing is queued: false when there is no welcomed connection. */
  send(data) {
    if (!this.connected) return false;
    this._sendFrame({ type: "message", data: data });
    return true;
  }

  /*
   * Ask to join a group (the server's AUTHORIZE_SUBSCRIBE decides): "subscribed" or an "error" with
   * code "subscribe_refused" follows. Kept across reconnects, until unsubscribe() or a refusal.
   * options.latest (default: the client's latest option): also ask for the group stream's last push,
   * while there is no position to recover the group from.
   */
  subscribe(group, options) {
    const latest = options && options.latest !== undefined ? Boolean(options.latest) : this.latest;
    this._subscriptions.set(group, latest);
    if (this.connected) this._subscribeFrame(group, latest);
    return this;
  }

  unsubscribe(group) {
    this._subscriptions.delete(group);
    if (this.connected) this._sendFrame({ type: "unsubscribe", group: group });
    return this;
  }

  /* Fetch a fresh token from tokenUrl now; it is used by the next (re)connect. */
  refreshToken() {
    if (!this.tokenUrl) return Promise.reject(new Error("pushapp: no token URL"));
    if (!this._tokenRequest) {
      const done = () => { this._tokenRequest = null; };
      this._tokenRequest = this._fetchToken();
      this._tokenRequest.then(done, done);
    }
    return this._tokenRequest;
  }

  /* Ask Django (bindUrl) to bind this connection to the logged-in user; resolves to the JSON answer. */
  bind() {
    if (!this.bindUrl) return Promise.reject(new Error("pushapp: no bind URL"));
    return this.postWithProof(this.bindUrl);
  }

  /* POST fields plus client_id and proof, form-encoded with the CSRF token; resolves to the JSON answer. */
  async postWithProof(url, fields) {
    if (!this.connected) throw new Error("pushapp: not connected");
    const body = new URLSearchParams(fields || {});
    body.set("client_id", this.clientId);
    body.set("proof", this.proof);
    const headers = { Accept: "application/json" };
    const csrf = cookie("csrftoken");
    if (csrf) headers["X-CSRFToken"] = csrf;
    const response = await fetch(url, { method: "POST", body: body, headers: headers, credentials: "same-origin" });
    const answer = await response.json().catch(() => null);
    if (!response.ok) throw httpError("POST " + url, response, answer);
    return answer;
  }

  /* One client frame on the current connection. */
  _sendFrame(frame) {
    this._ws.send(JSON.stringify(frame));
  }

  _subscribeFrame(group, latest) {
    const frame = { type: "subscribe", group: group };
    if (latest && !this._positions["group:" + group]) frame.latest = true;
    this._sendFrame(frame);
  }

  /*
   * The auth frame's "latest": the uid's stream, when this client has no position for it (recovery covers
   * it then). The subscribed groups' latest pushes are asked for by their subscribe frames: the server
   * only sends those of streams the connection follows, and it follows them once subscribed.
   */
  _latestStreams() {
    const known = Object.keys(this._positions);
    return this.latest && !known.some((stream) => stream.startsWith("uid:")) ? ["uid"] : [];
  }

  /* Acknowledge a push on a stream: the highest offset per stream, sent every ackInterval at most. */
  _queueAck(stream, offset) {
    if (!this.ack) return;
    if (!(this._acks[stream] >= offset)) this._acks[stream] = offset;
    if (this._ackTimer === null) {
      this._ackTimer = later(() => {
        this._ackTimer = null;
        this._flushAcks();
      }, this.ackInterval);
    }
  }

  /* Send what is pending, unless not connected (held for the next welcome) or hidden (held until visible). */
  _flushAcks() {
    if (!this.connected || !Object.keys(this._acks).length) return;
    if (!this.ackWhenHidden && document.visibilityState === "hidden") {
      if (!this._onVisible) {
        this._onVisible = () => {
          if (document.visibilityState === "hidden") return;
          document.removeEventListener("visibilitychange", this._onVisible);
          this._onVisible = null;
          this._flushAcks();
        };
        document.addEventListener("visibilitychange", this._onVisible);
      }
      return;
    }
    const acks = this._acks;
    this._acks = {};
    Object.keys(acks).forEach((stream) => this._sendFrame({ type: "ack", stream: stream, offset: acks[stream] }));
  }

  _handlers(name) {
    const list = this._listeners[name];
    if (!list) throw new TypeError("pushapp: unknown event " + name);
    return list;
  }

  _emit(name, detail) {
    this._listeners[name].slice().forEach((fn) => {
      try {
        fn.call(this, detail);
      } catch (error) {
        setTimeout(() => { throw error; }); // report it without breaking the connection logic
      }
    });
    document.dispatchEvent(new CustomEvent("pushapp:" + name, { detail: detail }));
  }

  async _open() {
    this._opening = true;
    let refreshed = false;
    try {
      if (this._tokenIsOld()) {
        await this.refreshToken();
        refreshed = true;
      }
    } catch (error) {
      this._opening = false;
      if (this._stopped) return;
      // Logged out (403): a new token will not come by retrying.
      const retry = error.status !== 401 && error.status !== 403;
      const delay = retry ? this._retry() : null;
      if (!retry) this._stop();
      this._emit("error", { code: "token", detail: error.message, status: error.status || null, willReconnect: retry, delay: delay });
      return;
    }
    if (this._sse) {
      this._openSse(refreshed);
      return;
    }
    this._opening = false;
    if (this._stopped) return;
    const ws = new WebSocket(this.url);
    this._wsOpened = this._wsHeard = false;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this._wsOpened = true;
      const auth = { type: "auth", token: this._token || null };
      if (Object.keys(this._positions).length) auth.recover = this._positions;
      const latest = this._latestStreams();
      if (latest.length) auth.latest = latest;
      ws.send(JSON.stringify(auth));
      this._emit("open", { url: this.url });
    };
    ws.onmessage = (event) => {
      this._wsHeard = true;
      this._receive(event.data);
    };
    ws.onerror = () => this._emit("error", { code: "socket", detail: "WebSocket error" });
    ws.onclose = (event) => this._drop(event);
    this._ws = ws;
  }

  /*
   * Over SSE: a one-time ticket for the token (POST sseTicketUrl), then an EventSource with it and the
   * last event id seen (the server recovers from it, as from the auth frame's recover).
   */
  async _openSse(refreshed) {
    if (this._stopped) {
      this._opening = false;
      return;
    }
    let ticket;
    try {
      ticket = await this._fetchTicket();
    } catch (error) {
      this._opening = false;
      if (this._stopped) return;
      let retry = error.status === undefined || error.status === null || error.status >= 500 || error.status === 429;
      if (error.status === 401 && this.tokenUrl && !refreshed) {
        this._tokenStale = true; // as after a 4002: a fresh token, then a new ticket
        retry = true;
      }
      const delay = retry ? this._retry() : null;
      if (!retry) this._stop();
      this._emit("error", { code: "sse_ticket", detail: error.message, status: error.status || null, willReconnect: retry, delay: delay });
      return;
    }
    this._opening = false;
    if (this._stopped) return;
    const url = new URL(this.sseUrl);
    url.searchParams.set("ticket", ticket);
    if (this._lastEventId) url.searchParams.set("last_event_id", this._lastEventId);
    const socket = new SseSocket(url.href, (id) => {
      this._lastEventId = id;
      save(EVENT_ID_KEY + this.url, id);
    });
    socket.onopen = () => this._emit("open", { url: this.sseUrl });
    socket.onmessage = (event) => this._receive(event.data);
    socket.onerror = () => this._emit("error", { code: "socket", detail: "EventSource error" });
    socket.onposterror = ({ status }) => this._emit("error", { code: "sse_post", detail: "POST of a client frame failed", status: status });
    socket.onclose = (event) => this._drop(event);
    this._ws = socket;
  }

  async _fetchTicket() {
    const headers = { Accept: "application/json", "Content-Type": "application/json" };
    const csrf = cookie("csrftoken");
    if (csrf) headers["X-CSRFToken"] = csrf;
    const response = await fetch(this.sseTicketUrl, {
      method: "POST",
      body: JSON.stringify({ token: this._token || "" }),
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
    });
    const answer = await response.json().catch(() => null);
    if (!response.ok || !answer || typeof answer.ticket !== "string") throw httpError("POST " + this.sseTicketUrl, response, answer);
    return answer.ticket;
  }

  _receive(raw) {
    if (this._deadTimer) this._armDeadline();
    if (typeof raw !== "string") {
      this._emit("message", raw);
      return;
    }
    let data;
    try {
      data = JSON.parse(raw);
    } catch (error) {
      if (this.connected && !this._envelope) this._emit("message", raw); // a bare text push
      return;
    }
    if (!this.connected) {
      // Before the welcome only the server speaks: auth errors, then the welcome itself.
      if (isFrame(data, "welcome")) this._welcome(data);
      else if (isFrame(data, "error")) this._emit("error", { code: data.code, detail: data.detail });
      return;
    }
    if (this._serverFrame(data)) return;
    if (!this._envelope) {
      // ENVELOPE off (GatewayWorker-style bare frames): pushes and server frames share one namespace.
      if (isFrame(data, "error")) this._emit("error", { code: data.code, detail: data.detail });
      else if (isFrame(data, "reconnect")) this._reconnectFrame(data);
      else if (!isFrame(data, "pong") && !isFrame(data, "welcome")) this._emit("message", data);
      return;
    }
    // Every push arrives as {"type": "push", "data": …}: its data is the application's, never read here.
    if (isFrame(data, "push")) {
      if (typeof data.stream === "string") this._advance(data.stream, data.offset, data.epoch);
      this._emit("message", data.data);
      if (typeof data.stream === "string" && typeof data.offset === "number") this._queueAck(data.stream, data.offset);
    } else if (isFrame(data, "recovered")) this._recovered(data.streams || {});
    else if (isFrame(data, "missed")) this._emit("missed", { stream: data.stream === undefined ? null : data.stream });
    else if (isFrame(data, "error")) this._emit("error", { code: data.code, detail: data.detail });
    else if (isFrame(data, "reconnect")) this._reconnectFrame(data);
  }

  /* The server drains (protocol: "reconnect"): come back after its delay, not before, whenever we close. */
  _reconnectFrame(frame) {
    const delay = Number(frame.delay);
    this._reconnectAt = Date.now() + (delay > 0 ? delay * 1000 : 0);
  }

  /* Subscription answers and presence frames (both modes); true when data was one. */
  _serverFrame(data) {
    if (isFrame(data, "refreshed")) {
      // The server took the token sent in-band: the connection now lives until data.expires.
    } else if (isFrame(data, "subscribed") || isFrame(data, "unsubscribed")) {
      this._emit(data.type, { group: data.group });
    } else if (isFrame(data, "presence")) {
      this._emit("presence", { group: data.group, event: data.event, uid: data.uid });
    } else if (isFrame(data, "error") && data.group !== undefined) {
      if (data.code === "subscribe_refused" || data.code === "bad_group") this._subscriptions.delete(data.group);
      this._emit("error", { code: data.code, detail: data.detail, group: data.group });
    } else {
      return false;
    }
    return true;
  }

  _welcome(frame) {
    this._envelope = frame.envelope !== false;
    this._welcomeStreams = frame.streams || {};
    // A stream this client has no position for (or one from a lost epoch) starts where the server is.
    Object.keys(this._welcomeStreams).forEach((stream) => {
      const known = this._positions[stream];
      const now = this._welcomeStreams[stream];
      if (!known || known.epoch !== now.epoch) this._positions[stream] = { offset: now.offset, epoch: now.epoch };
    });
    this._savePositions();
    this.clientId = frame.client_id;
    this.uid = frame.uid === undefined ? null : frame.uid;
    this.proof = frame.proof || null;
    this.pingInterval = positive(frame.ping_interval) || 0;
    if (this._ws.kind === "sse" && frame.sse) this._ws.target(frame.sse.post, frame.sse.proof);
    else if (this._ws.kind !== "sse" && !this._wsWorked) {
      this._wsWorked = true;
      save(WEBSOCKET_KEY + this.url, "ok");
    }
    this.connected = true;
    this._attempt = 0;
    this._startHeartbeat();
    // Before the listeners run: a subscribe() in a welcome listener is then sent once.
    this._subscriptions.forEach((latest, group) => this._subscribeFrame(group, latest));
    this._flushAcks(); // what the last connection received and did not acknowledge in time
    this._emit("welcome", { clientId: this.clientId, uid: this.uid, proof: this.proof, pingInterval: this.pingInterval });
  }

  /* The last push seen on each stream with history: sent back on reconnect, so the server replays the
     rest. Kept in sessionStorage too, so a reload of the page recovers as well. */
  _advance(stream, offset, epoch) {
    if (typeof offset !== "number" || typeof epoch !== "string") return;
    this._positions[stream] = { offset: offset, epoch: epoch };
    this._savePositions();
  }

  _recovered(streams) {
    Object.keys(streams).forEach((stream) => {
      if (streams[stream]) return;
      // Not recoverable: go on from the server's position, and let the page refetch.
      const now = this._welcomeStreams[stream];
      const known = this._positions[stream];
      if (!now) delete this._positions[stream];
      else if (!known || known.epoch !== now.epoch || known.offset < now.offset) this._positions[stream] = { offset: now.offset, epoch: now.epoch };
    });
    this._savePositions();
    this._emit("recovered", { streams: streams });
  }

  _loadPositions() {
    const store = storage();
    try {
      const saved = store ? JSON.parse(store.getItem(POSITIONS_KEY + this.url) || "{}") : {};
      return saved && typeof saved === "object" && !Array.isArray(saved) ? saved : {};
    } catch (error) {
      return {};
    }
  }

  _savePositions() {
    const store = storage();
    if (!store) return;
    try {
      store.setItem(POSITIONS_KEY + this.url, JSON.stringify(this._positions));
    } catch (error) {
      // Storage full or refused: positions stay in memory.
    }
  }

  /* The socket is gone (closed by either side, or found dead): clean up, then maybe reconnect. */
  _drop(event) {
    const ws = this._ws;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = ws.onposterror = null;
    if (ws.readyState === 0 || ws.readyState === 1) ws.close(event.code, event.reason); // CONNECTING, OPEN
    this._ws = null;
    const fallBack = ws.kind !== "sse" && !this._stopped && this._wsFailed(event);
    this._stopHeartbeat();
    this.connected = false;
    this.clientId = this.uid = this.proof = null;
    let again = !this._stopped && !FINAL_CODES.includes(event.code);
    if (event.code === TOKEN_EXPIRED) {
      if (this.tokenUrl) this._tokenStale = true;
      else again = false; // the same token would be refused again
    }
    // Falling back to SSE: at once, unless a draining server said when.
    const delay = again ? this._retry(this._reconnectAt === null && fallBack ? Date.now() : this._reconnectAt) : null;
    this._reconnectAt = null;
    if (!again) this._stop();
    this._emit("close", { code: event.code, reason: event.reason || "", wasClean: Boolean(event.wasClean), willReconnect: again, delay: delay });
  }

  /*
   * A WebSocket that never got through (no open, or a 1006 before any frame) looks like a proxy that
   * blocks WebSockets: after two in a row, "auto" goes on over SSE for the rest of the tab's life. Not
   * once a WebSocket was welcomed in this tab: failures then are a server restarting or a network
   * outage, and the client keeps trying WebSockets. Returns whether this drop made the switch.
   */
  _wsFailed(event) {
    const blocked = !this._wsOpened || (event.code === 1006 && !this._wsHeard);
    this._wsFailures = blocked ? this._wsFailures + 1 : 0;
    if (this.transport !== "auto" || !this.sseTicketUrl || this._wsWorked) return false;
    if (this._wsFailures < FALLBACK_AFTER) return false;
    this._sse = true;
    save(TRANSPORT_KEY + this.url, "sse");
    return true;
  }

  /*
   * Schedule the next attempt after random(0, min(cap, base * 2^attempt)) seconds, or at the time a
   * draining server chose (at, in ms since the epoch) instead; returns the delay in seconds.
   */
  _retry(at) {
    let delay;
    if (typeof at === "number") {
      delay = Math.max(0, at - Date.now()) / 1000;
      this._attempt = 0; // the server said when: a failure after that starts the backoff afresh
    } else {
      delay = Math.random() * Math.min(this.reconnectCap, this.reconnectBase * 2 ** this._attempt);
    }
    this._attempt += 1;
    this._retryTimer = later(() => {
      this._retryTimer = null;
      this._open();
    }, delay * 1000);
    return delay;
  }

  _stop() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    clearTimeout(this._refreshTimer);
    this._retryTimer = this._refreshTimer = null;
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    // Over SSE the server's ": ping" comments keep proxies from closing the stream; EventSource does not
    // show comments, so the client cannot time the server out, and has no ping frame to send.
    if (!this.pingInterval || this._ws.kind === "sse") return;
    this._pingTimer = setInterval(() => this._sendFrame({ type: "ping" }), this.pingInterval * 1000);
    this._armDeadline();
  }

  /* Any frame proves the connection alive; silence for two ping intervals means it is dead. */
  _armDeadline() {
    clearTimeout(this._deadTimer);
    this._deadTimer = later(() => {
      this._drop({ code: HEARTBEAT_TIMEOUT, reason: "nothing received for two ping intervals", wasClean: false });
    }, 2000 * this.pingInterval);
  }

  _stopHeartbeat() {
    clearInterval(this._pingTimer);
    clearTimeout(this._deadTimer);
    this._pingTimer = this._deadTimer = null;
  }

  /* Before a (re)connect: fetch when told the token expired, or when it is past half its lifetime. */
  _tokenIsOld() {
    if (!this.tokenUrl) return false;
    if (this._tokenStale || !this._token) return true;
    return this._tokenMaxAge !== null && Date.now() - this._tokenTime > this._tokenMaxAge * 500;
  }

  async _fetchToken() {
    const response = await fetch(this.tokenUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) throw httpError("GET " + this.tokenUrl, response, await response.json().catch(() => null));
    const answer = await response.json();
    this._token = answer.token;
    this._tokenMaxAge = positive(answer.max_age);
    this._tokenTime = Date.now();
    this._tokenStale = false;
    this._scheduleRefresh();
    // An open connection lives as long as its token: hand the server the new one in-band.
    if (this.connected) this._sendFrame({ type: "refresh", token: this._token });
    return this._token;
  }

  /* Keep a usable token at hand: refresh at 80 % of its lifetime, while the client is running. */
  _scheduleRefresh() {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    if (!this.tokenUrl || this._tokenMaxAge === null || this._stopped) return;
    const due = this._tokenTime + this._tokenMaxAge * 800 - Date.now();
    this._refreshTimer = later(() => {
      this._refreshTimer = null;
      this.refreshToken().catch((error) => {
        this._emit("error", { code: "token", detail: error.message, status: error.status || null });
      });
    }, due);
  }
}

export { PushappClient };
export default PushappClient;
