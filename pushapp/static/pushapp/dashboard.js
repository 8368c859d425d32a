/*
 * The staff dashboard's live part: every hub pushes {"type": "pushapp.node", "node": {...}} each second to
 * the page's connection (group pushapp.watch); this keeps the node table, the totals and the chart current.
 * window.pushappDashboard exposes what it holds (the browser test reads it).
 */
(function () {
  "use strict";

  const WINDOW_S = 300; // the chart's span
  const STALE_MS = 5000; // a node silent this long is shown greyed, and left out of the totals
  const nodes = new Map(); // node id -> its last report, plus rate (deliveries/s) and seenAt
  const series = []; // {t, rate, connections}, one per second
  window.pushappDashboard = { nodes: nodes, series: series, reports: 0 };

  function text(row, field, value) {
    const cell = row.querySelector('[data-f="' + field + '"]');
    if (cell) cell.textContent = value;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 3600) + ":" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }

  function rowOf(report) {
    const body = document.querySelector("#nodes tbody");
    let row = body.querySelector('tr[data-node="' + report.node + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.node = report.node;
      const worker = report.service ? report.service + "/" + report.worker + " gen " + report.generation : "–";
      const cells = [["", report.node, true], ["", worker], ["", report.host], ["", report.pid], ["uptime", ""],
        ["clients", ""], ["rate", "–"], ["delivered", ""], ["dropped", ""]];
      cells.forEach(([field, value, code]) => {
        const cell = document.createElement("td");
        if (field) cell.dataset.f = field;
        if (field || typeof value === "number") cell.className = "n";
        if (code) {
          const c = document.createElement("code");
          c.textContent = value;
          cell.appendChild(c);
        } else {
          cell.textContent = value;
        }
        row.appendChild(cell);
      });
      body.appendChild(row);
    }
    return row;
  }

  function onReport(report) {
    const previous = nodes.get(report.node);
    let rate = null;
    if (previous && report.at > previous.at) rate = Math.max(0, (report.delivered - previous.delivered) / (report.at - previous.at));
    nodes.set(report.node, Object.assign({}, report, { rate: rate, seenAt: Date.now() }));
    window.pushappDashboard.reports += 1;
    const row = rowOf(report);
    row.classList.remove("stale");
    text(row, "uptime", duration(report.at - report.started));
    text(row, "clients", report.clients);
    text(row, "rate", rate === null ? "–" : rate.toFixed(1));
    text(row, "delivered", report.delivered);
    text(row, "dropped", report.dropped);
  }

  function sample() {
    const now = Date.now();
    let connections = 0;
    let rate = 0;
    let live = 0;
    nodes.forEach((node) => {
      const row = document.querySelector('#nodes tr[data-node="' + node.node + '"]');
      if (now - node.seenAt > STALE_MS) {
        if (row) row.classList.add("stale");
        return;
      }
      live += 1;
      connections += node.clients;
      rate += node.rate || 0;
    });
    if (live) {
      series.push({ t: now, rate: rate, connections: connections });
      while (series.length > WINDOW_S) series.shift();
      document.getElementById("total-clients").textContent = connections;
      document.getElementById("total-nodes").textContent = live;
      document.getElementById("total-rate").textContent = rate.toFixed(1);
    }
    draw();
  }

  function line(ctx, points, key, color, max, width, height) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => {
      const x = width - (points.length - 1 - i) * (width / WINDOW_S);
      const y = height - 4 - (p[key] / max) * (height - 24);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  function draw() {
    const canvas = document.getElementById("chart");
    if (!canvas) return;
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    const maxRate = Math.max(1, ...series.map((p) => p.rate));
    const maxConn = Math.max(1, ...series.map((p) => p.connections));
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = "#1f6fd1";
    ctx.fillText("max " + maxRate.toFixed(1) + "/s", 6, 14);
    ctx.fillStyle = "#d1701f";
    ctx.fillText("max " + maxConn + " connections", width - 150, 14);
    line(ctx, series, "rate", "#1f6fd1", maxRate, width, height);
    line(ctx, series, "connections", "#d1701f", maxConn, width, height);
  }

  document.addEventListener("pushapp:message", (event) => {
    const data = event.detail;
    if (data && data.type === "pushapp.node" && data.node) onReport(data.node);
  });
  document.addEventListener("pushapp:welcome", () => {
    const live = document.getElementById("live");
    live.textContent = "live";
    live.classList.add("on");
  });
  document.addEventListener("pushapp:close", () => {
    const live = document.getElementById("live");
    live.textContent = "reconnecting…";
    live.classList.remove("on");
  });
  setInterval(sample, 1000);
})();
