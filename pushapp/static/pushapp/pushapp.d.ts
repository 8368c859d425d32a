/*
 * Types of pushapp.mjs, the ES module of django-pushapp's browser client (docs/javascript.md; the wire
 * protocol: docs/protocol.md). `import { PushappClient } from "django-pushapp";`
 */

/** What the application pushed: JSON data as Django sent it, or an ArrayBuffer for a binary frame. */
export type PushData = unknown;

/** Options of `new PushappClient(options)`. */
export interface PushappOptions {
  /** `"/ws/push/"`, `"https://host/ws/push/"` or `"wss://host/ws/push/"`. */
  url: string;
  /** Sent in the auth frame; null (or absent) for an anonymous connection. */
  token?: string | null;
  /** Where fresh tokens come from: GET, `{"token": "…", "max_age": 3600}`. */
  tokenUrl?: string | null;
  /** The token's lifetime in seconds; unknown means: refresh only after a 4002. */
  tokenMaxAge?: number | string | null;
  /** Do not connect until `connect()`. Default false. */
  lazy?: boolean;
  /** The endpoint of `bind()`. */
  bindUrl?: string | null;
  /** Seconds, default 1: full-jitter backoff base. */
  reconnectBase?: number;
  /** Seconds, default 30: the backoff's cap. */
  reconnectCap?: number;
  /** Acknowledge pushes that carry a stream position (`{"type": "ack", stream, offset}`). Default true. */
  ack?: boolean;
  /** Milliseconds, default 500: acks are batched, the highest offset per stream, at most once per interval. */
  ackInterval?: number;
  /** Acknowledge while the page is hidden too. Default false: acks wait until it is visible. */
  ackWhenHidden?: boolean;
  /** Ask for the uid's and the subscribed groups' last stored push when there is no position for them. Default false. */
  latest?: boolean;
  /**
   * "auto" (the default): WebSocket, and Server-Sent Events after 2 WebSocket attempts in a row that never
   * got through (with an `sseTicketUrl`); "sse" or "websocket": that one only.
   */
  transport?: PushappTransport;
  /** POST `{"token": …}` here for a one-time SSE ticket; the template tag sets it from `pushapp:sse-ticket`. */
  sseTicketUrl?: string | null;
  /** The SSE endpoint; default: the WebSocket URL over http(s), plus `sse/`. */
  sseUrl?: string | null;
}

export type PushappTransport = "websocket" | "sse" | "auto";

/** The second argument of `subscribe()`. */
export interface SubscribeOptions {
  /** Also ask for the group stream's last stored push; default: the client's `latest` option. */
  latest?: boolean;
}

/** A stream's position: the last push seen on it. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Frames the server sends (docs/protocol.md); the client turns them into events. */
export type ServerFrame =
  | {
      type: "welcome";
      client_id: string;
      uid?: string | null;
      proof?: string;
      ping_interval?: number;
      envelope?: boolean;
      expires?: number;
      streams?: Record<string, StreamPosition>;
      /** Over SSE only: where client frames are POSTed, and the proof they carry (X-Pushapp-Proof). */
      sse?: { post: string; proof: string };
    }
  | { type: "push"; data: PushData; stream?: string; offset?: number; epoch?: string; version?: number }
  | { type: "recovered"; streams: Record<string, boolean> }
  | { type: "missed"; stream?: string | null }
  | { type: "error"; code: string; detail?: string; group?: string }
  | { type: "subscribed" | "unsubscribed"; group: string }
  | { type: "presence"; group: string; event: "join" | "leave"; uid: string }
  | { type: "refreshed"; expires?: number }
  | { type: "reconnect"; delay: number }
  | { type: "pong" };

/** Frames the client sends. */
export type ClientFrame =
  | { type: "auth"; token: string | null; recover?: Record<string, StreamPosition>; latest?: string[] }
  | { type: "message"; data: unknown }
  | { type: "subscribe"; group: string; latest?: true }
  | { type: "unsubscribe"; group: string }
  | { type: "ack"; stream: string; offset: number }
  | { type: "refresh"; token: string }
  | { type: "ping" };

export interface OpenDetail {
  url: string;
}

export interface WelcomeDetail {
  clientId: string;
  uid: string | null;
  proof: string | null;
  pingInterval: number;
}

export interface CloseDetail {
  code: number;
  reason: string;
  wasClean: boolean;
  willReconnect: boolean;
  /** Seconds until the reconnect; null when not reconnecting. */
  delay: number | null;
}

export interface ErrorDetail {
  /** A server error code (bad_json, subscribe_refused…), "socket", "token", "sse_ticket" or "sse_post". */
  code: string;
  detail?: string;
  group?: string;
  status?: number | null;
  willReconnect?: boolean;
  delay?: number | null;
}

export interface GroupDetail {
  group: string;
}

export interface RecoveredDetail {
  /** false: that stream could not be recovered, refetch its state. */
  streams: Record<string, boolean>;
}

export interface MissedDetail {
  stream: string | null;
}

export interface PresenceDetail {
  group: string;
  event: "join" | "leave";
  uid: string;
}

/** Every event and its detail; also dispatched on `document` as `pushapp:<event>` CustomEvents. */
export interface PushappEventMap {
  message: PushData;
  welcome: WelcomeDetail;
  open: OpenDetail;
  close: CloseDetail;
  error: ErrorDetail;
  recovered: RecoveredDetail;
  missed: MissedDetail;
  subscribed: GroupDetail;
  unsubscribed: GroupDetail;
  presence: PresenceDetail;
}

export type PushappEvent = keyof PushappEventMap;

export type PushappListener<E extends PushappEvent> = (this: PushappClient, detail: PushappEventMap[E]) => void;

/** An HTTP failure of bind(), postWithProof() or a token fetch. */
export interface PushappHttpError extends Error {
  status: number;
  body: unknown;
}

export class PushappClient {
  constructor(options: PushappOptions);

  /** The absolute WebSocket URL. */
  readonly url: string;
  readonly tokenUrl: string | null;
  readonly bindUrl: string | null;
  readonly reconnectBase: number;
  readonly reconnectCap: number;
  readonly ack: boolean;
  readonly ackInterval: number;
  readonly ackWhenHidden: boolean;
  readonly latest: boolean;
  readonly transport: PushappTransport;
  readonly sseTicketUrl: string | null;
  /** The absolute SSE URL. */
  readonly sseUrl: string;
  /** What the current or next connection uses. */
  readonly activeTransport: "websocket" | "sse";
  /** True between the welcome frame and the end of that connection. */
  readonly connected: boolean;
  /** 48 hex characters; null when not connected. */
  readonly clientId: string | null;
  readonly uid: string | null;
  readonly proof: string | null;
  /** Seconds, from the welcome frame; 0 when there is no heartbeat. */
  readonly pingInterval: number;
  readonly reconnectScheduled: boolean;
  readonly refreshScheduled: boolean;

  on<E extends PushappEvent>(name: E, fn: PushappListener<E>): this;
  off<E extends PushappEvent>(name: E, fn: PushappListener<E>): this;
  connect(): this;
  close(): this;
  /** Sends {"type": "message", data}; false when there is no welcomed connection (nothing is queued). */
  send(data: unknown): boolean;
  subscribe(group: string, options?: SubscribeOptions): this;
  unsubscribe(group: string): this;
  refreshToken(): Promise<string>;
  bind<T = { bound: boolean }>(): Promise<T>;
  postWithProof<T = unknown>(url: string, fields?: Record<string, string>): Promise<T>;
}

export default PushappClient;

declare global {
  interface DocumentEventMap {
    "pushapp:message": CustomEvent<PushData>;
    "pushapp:welcome": CustomEvent<WelcomeDetail>;
    "pushapp:open": CustomEvent<OpenDetail>;
    "pushapp:close": CustomEvent<CloseDetail>;
    "pushapp:error": CustomEvent<ErrorDetail>;
    "pushapp:recovered": CustomEvent<RecoveredDetail>;
    "pushapp:missed": CustomEvent<MissedDetail>;
    "pushapp:subscribed": CustomEvent<GroupDetail>;
    "pushapp:unsubscribed": CustomEvent<GroupDetail>;
    "pushapp:presence": CustomEvent<PresenceDetail>;
  }
}
