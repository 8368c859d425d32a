/* The demo pages' glue: pushes become toasts, a notifications list with an unread count, and live changes
   of the page they concern. pushapp.js is loaded lazily (base.html): this file connects it at the end,
   once every listener is in place. */
(function () {
  "use strict";

  const client = window.pushapp;
  const uid = document.body.dataset.uid;
  const status = document.getElementById("push-state");
  const INBOX_KEY = "demo.inbox:" + uid; // per user and per tab, like pushapp.js's recovery positions
  const ROOMS_KEY = "demo.rooms:" + uid;
  const INBOX_SIZE = 50;

  function load(key, fallback) {
    try {
      return JSON.parse(window.sessionStorage.getItem(key)) || fallback;
    } catch (error) {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      window.sessionStorage.setItem(key, JSON.stringify(value));
    } catch (error) {
      /* storage refused (privacy modes): the page still works, without surviving a reload */
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clock(value) {
    return new Date(value).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  }

  /* A toast: gone after a click, after 8 s, or when three newer ones are shown. */
  function toast(title, text, kind) {
    const box = element("div", "toast " + (kind || "info"));
    box.append(element("strong", "", title), element("span", "", text));
    box.addEventListener("click", () => box.remove());
    const stack = document.getElementById("toasts");
    stack.prepend(box);
    [...stack.children].slice(3).forEach((old) => old.remove());
    setTimeout(() => box.remove(), 8000);
  }

  /* What a push says, as a notification; null for pushes a page shows in place (room messages). */
  function describe(data) {
    if (data instanceof ArrayBuffer) return { title: "Binary push", text: data.byteLength + " bytes" };
    if (typeof data === "string") return { title: "Message", text: data };
    const type = data && data.type;
    if (type === "room.message") return null;
    if (type === "notify") return { title: "Message", text: String(data.message) };
    if (type === "bike.locked") return { title: "Bike locked", text: "Ride #" + data.order_id + " is over: the bike is locked." };
    if (type === "note.saved") return { title: data.created ? "Note saved" : "Note changed", text: data.text };
    if (type === "echo") return { title: "Django echoed", text: data.data && data.data.text !== undefined ? String(data.data.text) : JSON.stringify(data.data) };
    return { title: "Push", text: JSON.stringify(data) };
  }

  // -- notifications: toasts, the list and the unread count, kept in sessionStorage across reloads ------

  const inbox = load(INBOX_KEY, { items: [], unread: 0 });
  const badge = document.getElementById("unread");
  const list = document.getElementById("inbox");

  function renderInbox() {
    badge.textContent = String(inbox.unread);
    badge.hidden = inbox.unread === 0;
    if (!list || inbox.items.length === 0) return;
    list.replaceChildren(...inbox.items.map((item, index) => {
      const entry = element("li", index < inbox.unread ? "unread" : "");
      entry.append(element("strong", "", item.title), element("span", "", item.text), element("time", "muted", clock(item.at)));
      return entry;
    }));
  }

  function notify(note) {
    inbox.items.unshift({ title: note.title, text: note.text, at: Date.now() });
    inbox.items.length = Math.min(inbox.items.length, INBOX_SIZE);
    inbox.unread = Math.min(inbox.unread + 1, INBOX_SIZE);
    save(INBOX_KEY, inbox);
    renderInbox();
    toast(note.title, note.text);
  }

  const markRead = document.getElementById("mark-read");
  if (markRead) {
    markRead.addEventListener("click", () => {
      inbox.unread = 0;
      save(INBOX_KEY, inbox);
      renderInbox();
    });
  }
  renderInbox();

  // -- the connection, and what a reconnect recovered ----------------------------------------------------

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  let replayed = 0; // pushes since the last welcome: until the recovered frame, those are the replay
  client.on("open", () => setStatus("connecting", "authenticating…"));
  client.on("welcome", (welcome) => {
    replayed = 0;
    setStatus("connected", "live");
    status.title = "client id " + welcome.clientId;
  });
  client.on("close", (close) => {
    status.title = "client id –";
    setStatus("closed", close.willReconnect ? "reconnecting in " + close.delay.toFixed(1) + " s" : "offline");
  });
  client.on("message", () => { replayed += 1; });
  client.on("recovered", ({ streams }) => {
    const lost = Object.keys(streams).filter((stream) => !streams[stream]);
    document.body.dataset.recovered = String(replayed);
    if (lost.length) toast("Some pushes are gone", "Missed pushes could not be recovered: reload for the latest.", "warning");
    else if (replayed) toast("Back online", "Recovered " + replayed + " push" + (replayed === 1 ? "" : "es") + " sent while this page was away.");
  });
  client.on("missed", () => toast("Some pushes may be lost", "The server lost its connection for a while: reload for the latest.", "warning"));
  client.on("error", (error) => {
    if (error.group === undefined) console.warn("pushapp error", error);
  });
  client.on("message", (data) => {
    const note = describe(data);
    if (note) notify(note);
  });

  // -- forms that must not reload the page (the reload would drop the connection) ---------------------

  async function post(url, options) {
    const response = await fetch(url, Object.assign({ method: "POST", credentials: "same-origin" }, options));
    const answer = await response.json().catch(() => null);
    if (!response.ok || response.redirected) throw new Error("HTTP " + response.status + (answer ? ": " + JSON.stringify(answer) : ""));
    return answer;
  }

  document.querySelectorAll("form[data-fetch]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await post(form.action, { body: new FormData(form) });
        form.reset();
      } catch (error) {
        toast("Not sent", error.message, "warning");
      }
    });
  });

  const sendForm = document.getElementById("send-form");
  if (sendForm) {
    sendForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (client.send({ text: sendForm.elements.text.value })) sendForm.reset();
      else toast("Not connected", "Nothing was sent.", "warning");
    });
  }

  // -- the HTTP API: the curl, and the same request made by the page ----------------------------------

  const apiForm = document.getElementById("api-form");
  if (apiForm) {
    const request = JSON.parse(document.getElementById("api-request").textContent);
    const curl = document.getElementById("api-curl");
    const answer = document.getElementById("api-answer");
    const body = () => {
      request.commands[0].params.data.message = apiForm.elements.message.value;
      return JSON.stringify(request);
    };
    apiForm.elements.message.addEventListener("input", () => {
      curl.textContent = "curl -H 'Authorization: apikey " + apiForm.dataset.key + "' -H 'Content-Type: application/json' -d '"
        + body().replace(/'/g, "'\\''") + "' " + apiForm.dataset.url;
    });
    apiForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      answer.textContent = "…";
      try {
        const headers = { Authorization: "apikey " + apiForm.dataset.key, "Content-Type": "application/json" };
        answer.textContent = "200 " + JSON.stringify(await post(apiForm.dataset.url, { headers: headers, body: body() }));
      } catch (error) {
        answer.textContent = error.message;
      }
    });
  }

  // -- bike rides: the lock's callback turns a ride to locked, live -------------------------------------

  document.querySelectorAll("button[data-lock]").forEach((button) => {
    button.addEventListener("click", async () => {
      const order = Number(button.closest("[data-order]").dataset.order);
      try {
        await post(button.dataset.lock, {
          headers: { "X-Demo-Key": button.dataset.key, "Content-Type": "application/json" },
          body: JSON.stringify({ order_id: order, status: "locked" }),
        });
      } catch (error) {
        toast("Callback failed", error.message, "warning");
      }
    });
  });

  client.on("message", (data) => {
    if (!data || data.type !== "bike.locked") return;
    const row = document.querySelector('#orders [data-order="' + data.order_id + '"]');
    if (!row) return;
    const pill = row.querySelector("[data-status]");
    pill.textContent = "locked";
    pill.className = "pill locked";
    row.querySelector("[data-when]").textContent = "locked at " + clock(data.locked_at);
    const callback = row.querySelector(".callback");
    if (callback) callback.remove();
  });

  // -- notes: the list shows what the post_save push says, once committed ------------------------------

  const notes = document.getElementById("notes");
  client.on("message", (data) => {
    if (!notes || !data || data.type !== "note.saved") return;
    let entry = notes.querySelector('[data-note="' + data.id + '"]');
    if (!entry) {
      entry = element("li", "fresh");
      entry.dataset.note = String(data.id);
      notes.querySelectorAll(".empty").forEach((empty) => empty.remove());
      notes.prepend(entry);
    }
    entry.textContent = data.text;
  });

  // -- the room: entered with subscribe() (allowed by demo/push.py), who is here from presence frames ----

  const room = document.getElementById("room");
  if (room) {
    const group = room.dataset.group;
    const roomState = document.getElementById("room-state");
    const join = document.getElementById("room-join");
    const leave = document.getElementById("room-leave");
    const chat = document.getElementById("chat");
    const membersList = document.getElementById("members");
    const members = new Map([...membersList.querySelectorAll("[data-uid]")].map((li) => [li.dataset.uid, li.textContent]));
    const names = new Map(members);
    const joined = new Set(load(ROOMS_KEY, []));
    let fetching = null; // presence events that arrive while the list is fetched are applied after it

    const renderMembers = () => {
      const items = [...members].sort((a, b) => a[1].localeCompare(b[1])).map(([id, name]) => {
        const li = element("li", id === uid ? "me" : "", name);
        li.dataset.uid = id;
        return li;
      });
      membersList.replaceChildren(...(items.length ? items : [element("li", "empty", "Nobody.")]));
    };
    const say = (who, text, kind) => {
      chat.querySelectorAll(".empty").forEach((empty) => empty.remove());
      const line = element("li", kind || "");
      if (who) line.append(element("strong", "", who));
      line.append(element("span", "", text), element("time", "muted", clock(Date.now())));
      chat.prepend(line);
    };
    const apply = (event) => {
      if (event.event === "join") members.set(event.uid, names.get(event.uid) || "user " + event.uid);
      else members.delete(event.uid);
    };
    const refresh = async () => {
      const pending = [];
      fetching = pending;
      let answer = null;
      try {
        answer = await fetch(room.dataset.membersUrl, { credentials: "same-origin" }).then((r) => r.json());
      } catch (error) {
        toast("Who is here?", "The list could not be fetched: " + error.message, "warning");
      }
      if (fetching !== pending) return; // a later refresh answers instead
      fetching = null;
      if (answer) {
        members.clear();
        answer.members.forEach((member) => {
          names.set(member.uid, member.username);
          members.set(member.uid, member.username);
        });
      }
      pending.forEach(apply);
      renderMembers();
    };
    const setMember = (member, text) => {
      roomState.textContent = text;
      join.hidden = member;
      leave.hidden = !member;
      if (member) joined.add(group);
      else joined.delete(group);
      save(ROOMS_KEY, [...joined]);
    };

    join.addEventListener("click", () => {
      roomState.textContent = "Entering…";
      client.subscribe(group);
    });
    leave.addEventListener("click", () => client.unsubscribe(group));
    client.on("subscribed", (answer) => {
      if (answer.group !== group) return;
      setMember(true, "You are in the room.");
      refresh();
    });
    client.on("unsubscribed", (answer) => {
      if (answer.group !== group) return;
      setMember(false, "You are not in the room.");
      refresh();
    });
    client.on("error", (error) => {
      if (error.group === group) setMember(false, "Refused: " + error.detail);
    });
    client.on("close", () => {
      if (joined.has(group)) roomState.textContent = "Reconnecting: you will be back in the room…";
    });
    client.on("presence", async (event) => {
      if (event.group !== group) return;
      if (fetching) fetching.push(event);
      else apply(event);
      if (!names.has(event.uid)) await refresh();
      renderMembers();
      say(null, (names.get(event.uid) || "user " + event.uid) + (event.event === "join" ? " joined" : " left"), "system");
    });
    client.on("message", (data) => {
      if (data && data.type === "room.message" && "room:" + data.room === group) say(data.user, data.text);
    });
    // Entered in this tab before a reload: enter again (pushapp.js itself does so after reconnects).
    if (joined.has(group)) join.click();
  }

  // A page whose template asks for it (the notifications page) shows the user's last push on arrival,
  // when it has nothing to recover from (pushapp.js's latest option; docs/delivery.md).
  if (document.body.dataset.latest === "true") client.latest = true;
  client.connect();
})();
