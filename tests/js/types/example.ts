/*
 * Type-checked by tests/test_js.py with `tsc --strict` against pushapp.d.ts, imported by the npm package's
 * name (the test links django-pushapp to pushapp/static/pushapp/): what an application writes.
 */
import PushappDefault, { PushappClient } from "django-pushapp";
import type { CloseDetail, ErrorDetail, PushappOptions, ServerFrame, WelcomeDetail } from "django-pushapp";

const options: PushappOptions = {
  url: "/ws/push/",
  token: null,
  tokenUrl: "/pushapp/token/",
  tokenMaxAge: 3600,
  reconnectBase: 1,
  reconnectCap: 30,
  lazy: true,
  ack: true,
  ackInterval: 500,
  ackWhenHidden: false,
  latest: true,
  transport: "auto",
  sseTicketUrl: "/pushapp/sse-ticket/",
  sseUrl: null,
};
const client: PushappClient = new PushappClient(options);
const same: PushappClient = new PushappDefault({ url: "wss://example.com/ws/push/" });

client
  .on("welcome", (detail: WelcomeDetail) => {
    const id: string = detail.clientId;
    const seconds: number = detail.pingInterval;
    console.log(id, seconds, detail.uid?.length);
  })
  .on("message", (data) => {
    if (data instanceof ArrayBuffer) console.log(data.byteLength);
    else console.log(JSON.stringify(data));
  })
  .on("close", ({ code, willReconnect, delay }: CloseDetail) => {
    if (willReconnect && delay !== null) console.log(code, delay * 1000);
  })
  .on("error", (error: ErrorDetail) => console.log(error.code, error.status ?? 0))
  .on("recovered", ({ streams }) => Object.values(streams).includes(false))
  .on("presence", ({ group, event, uid }) => console.log(group, event === "join", uid))
  .on("subscribed", ({ group }) => console.log(group.toUpperCase()));

client.subscribe("room:1").subscribe("room:2", { latest: false }).unsubscribe("room:1").connect();
const batching: number = client.ackInterval;
const over: "websocket" | "sse" = client.activeTransport;
const sent: boolean = client.send({ hello: "world" });
client.bind().then((answer) => console.log(answer.bound));
client.postWithProof<{ joined: boolean }>("/rooms/1/join/", { room: "1" }).then((answer) => answer.joined);
client.refreshToken().then((token: string) => token.length);
document.addEventListener("pushapp:welcome", (event) => console.log(event.detail.clientId));

function describe(frame: ServerFrame): string {
  switch (frame.type) {
    case "push":
      return String(frame.offset ?? -1);
    case "welcome":
      return frame.client_id;
    default:
      return frame.type;
  }
}

// Mistakes the types catch: each line must be an error, or tsc fails on the unused directive.
// @ts-expect-error: no such event
client.on("mesage", () => undefined);
// @ts-expect-error: url is required
new PushappClient({ token: "t" });
// @ts-expect-error: connected is read-only
client.connected = true;
// @ts-expect-error: a welcome detail has no code
client.on("welcome", (detail) => detail.code);

// @ts-expect-error: ackInterval is a number of milliseconds
new PushappClient({ url: "/ws/push/", ackInterval: "500" });

// @ts-expect-error: no such transport
new PushappClient({ url: "/ws/push/", transport: "long-polling" });

export { client, same, sent, describe, batching, over };
