/* The demo pages' glue: show pushapp's state and what it receives; post forms without reloading the page. */
(function () {
  "use strict";

  const client = window.pushapp;
  const state = document.getElementById("push-state");
  const clientId = document.getElementById("push-client-id");
  const messages = document.getElementById("messages");

  function log(item) {
    if (!messages) return;
    const entry = document.createElement("li");
    entry.textContent = item instanceof ArrayBuffer ? "(" + item.byteLength + " bytes)"
      : typeof item === "string" ? item : JSON.stringify(item);
    messages.prepend(entry);
  }

  if (!client) {
    state.textContent = "not available";
    return;
  }

  client.on("open", () => { state.textContent = "authenticating…"; });
  client.on("welcome", (welcome) => {
    state.textContent = "connected";
    clientId.textContent = welcome.clientId;
  });
  client.on("close", (close) => {
    clientId.textContent = "–";
    state.textContent = "closed (" + close.code + ")"
      + (close.willReconnect ? ", reconnecting in " + close.delay.toFixed(1) + " s" : "");
  });
  client.on("error", (error) => { console.warn("pushapp error", error); });
  client.on("message", log);
  // Rooms announce who comes and goes (PRESENCE_FRAMES in settings.py): one line per user, not per tab.
  client.on("presence", (p) => log(p.uid + (p.event === "join" ? " joined " : " left ") + p.group));

  // A page reload would drop the connection (and the push being waited for): post with fetch instead.
  document.querySelectorAll("form[data-fetch]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
      if (response.ok && !response.redirected) form.reset(); // redirected: to the login page
      else log("POST " + form.action + " failed: HTTP " + response.status);
    });
  });

  const sendForm = document.getElementById("send-form");
  if (sendForm) {
    sendForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (client.send({ text: sendForm.elements.text.value })) sendForm.reset();
      else log("not connected: nothing sent");
    });
  }

  const room = document.getElementById("room");
  if (room) {
    const roomState = document.getElementById("room-state");
    let member = false;

    const setMembership = async (join) => {
      try {
        const answer = await client.postWithProof(join ? room.dataset.joinUrl : room.dataset.leaveUrl);
        member = join && answer.joined;
      } catch (error) {
        log(error.message);
      }
      roomState.textContent = member ? "in the room" : "not in the room";
    };

    document.getElementById("room-join").addEventListener("click", () => setMembership(true));
    document.getElementById("room-leave").addEventListener("click", () => setMembership(false));
    // Membership belongs to a connection: a reconnect gets a new one, which must join again.
    client.on("welcome", () => { if (member) setMembership(true); });
    client.on("close", () => { roomState.textContent = member ? "rejoining after reconnect…" : "not in the room"; });
  }
})();
