// The call-center board (supervisors and admins): queues with waiting callers and their wait timers,
// agents and their state, answered/abandoned counts, and an inline-SVG chart of calls per hour over the
// last CHART_HOURS hours. GET /api/queues gives the board with the journal's `hourly` figures and
// `stats`; `queue` envelopes give the live board only, so those figures are kept from the last GET and
// refreshed (debounced) after calls end. Without `hourly` the page counts from the journal itself.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { duration, el, label, phone } from "./util.js";

export const CHART_HOURS = 12;
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

export class Board {
  constructor({ queues, chart, error }) {
    this.queuesElement = queues;
    this.chartElement = chart;
    this.error = error;
    this.board = null;
    this.receivedAt = 0; // when the board JSON arrived: the timers run on from it
    this.timers = []; // {cell, base}
    this.hours = [];
    this.chartTimer = null;
  }

  async load() {
    try {
      this.update(await api.queues());
      this.error.textContent = "";
    } catch (failure) {
      this.error.textContent = failure.status === 403 ? t("board.forbidden") : failure.message;
    }
  }

  update(board) {
    const previous = this.board;
    this.board = { ...board };
    for (const kept of ["hourly", "stats"]) {
      if (this.board[kept] === undefined && previous?.[kept] !== undefined) this.board[kept] = previous[kept];
    }
    if (Array.isArray(board.hourly)) this.hours = hoursFrom(board.hourly);
    this.receivedAt = Date.now();
    this.render();
  }

  render() {
    const queues = this.board?.queues ?? [];
    this.timers = [];
    this.queuesElement.replaceChildren(
      ...(queues.length ? queues.map((queue) => this.queueCard(queue)) : [el("p", { class: "empty", text: t("board.empty") })]),
    );
    this.tick();
    this.renderChart();
  }

  timer(seconds, attributes = {}) {
    const cell = el("td", { class: "num timer", ...attributes });
    if (typeof seconds === "number") this.timers.push({ cell, base: seconds });
    return cell;
  }

  queueCard(queue) {
    const waiting = queue.waiting ?? [];
    const agents = queue.agents ?? [];
    const longest = el("dd", { class: "timer" });
    if (typeof queue.longest_wait === "number") this.timers.push({ cell: longest, base: queue.longest_wait });
    const stat = (name, value, extra = {}) => el("div", { class: "stat", ...extra }, el("dt", { text: t(name) }), value);
    return el(
      "section",
      { class: "card queue", dataset: { queue: queue.name }, "aria-label": queue.name },
      el("h3", {}, queue.name, queue.strategy ? el("span", { class: "muted", text: ` · ${queue.strategy}` }) : ""),
      el(
        "dl",
        { class: "stats" },
        stat("board.waiting", el("dd", { class: "count-waiting", text: String(waiting.length) })),
        stat("board.longest", longest),
        stat("board.answered", el("dd", { class: "count-answered", text: String(queue.answered ?? 0) })),
        stat("board.abandoned", el("dd", { class: "count-abandoned", text: String(queue.abandoned ?? 0) })),
        stat("board.average", el("dd", { text: queue.average_wait == null ? "—" : duration(queue.average_wait) })),
      ),
      this.dayFigures(queue.name),
      el("h4", { text: t("board.waiting") }),
      waiting.length
        ? el(
            "table",
            { class: "grid compact waiting" },
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("board.position") }), el("th", { scope: "col", text: t("col.caller") }), el("th", { scope: "col", class: "num", text: t("col.wait") }))),
            el(
              "tbody",
              {},
              ...waiting.map((caller) =>
                el(
                  "tr",
                  { dataset: { uniqueid: caller.uniqueid || "" } },
                  el("td", { text: String(caller.position ?? "") }),
                  el("td", {}, phone(caller.number, caller.name)),
                  this.timer(caller.wait_seconds),
                ),
              ),
            ),
          )
        : el("p", { class: "muted", text: t("board.nobody_waiting") }),
      el("h4", { text: t("board.agents") }),
      el(
        "table",
        { class: "grid compact agents" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "col", text: t("board.agent") }),
            el("th", { scope: "col", text: t("board.agent_state") }),
            el("th", { scope: "col", class: "num", text: t("board.in_state") }),
            el("th", { scope: "col", class: "num", text: t("board.calls_taken") }),
          ),
        ),
        el(
          "tbody",
          {},
          ...agents.map((agent) =>
            el(
              "tr",
              { dataset: { interface: agent.interface, state: agent.state } },
              el("td", { text: agent.name && agent.name !== agent.interface ? `${agent.name} (${agent.interface})` : agent.interface }),
              el("td", {}, el("span", { class: `badge agent-${agent.state}`, text: label("agent", agent.state) })),
              this.timer(agent.in_state_seconds),
              el("td", { class: "num", text: String(agent.calls_taken ?? 0) }),
            ),
          ),
        ),
      ),
    );
  }

  /** The journal's figures of the board's period (the last day) for one queue, when the gateway gave them. */
  dayFigures(name) {
    const entry = (this.board?.stats ?? []).find((stats) => stats.queue === name);
    if (!entry) return null;
    return el("p", {
      class: "muted day-figures",
      text: t("board.day", { calls: entry.calls, answered: entry.answered, abandoned: entry.abandoned }),
    });
  }

  tick() {
    const elapsed = (Date.now() - this.receivedAt) / 1000;
    for (const { cell, base } of this.timers) cell.textContent = duration(base + elapsed);
  }

  /** Refresh the figures (GET /api/queues); count from the journal when the gateway gives no `hourly`. */
  async loadChart() {
    await this.load();
    if (!Array.isArray(this.board?.hourly)) await this.countFromJournal();
  }

  async countFromJournal() {
    const now = new Date();
    const top = new Date(now);
    top.setMinutes(0, 0, 0);
    const starts = [];
    for (let index = CHART_HOURS - 1; index >= 0; index -= 1) starts.push(new Date(top.getTime() - index * 3600_000));
    try {
      const hours = await Promise.all(
        starts.map(async (start) => {
          const window = { since: start.toISOString(), until: new Date(start.getTime() + 3600_000).toISOString(), limit: 1, offset: 0 };
          const [all, missed] = await Promise.all([api.journal(window), api.journal({ ...window, missed: "true" })]);
          return { start, total: all?.total ?? 0, missed: missed?.total ?? 0, answered: null };
        }),
      );
      this.hours = hours;
    } catch {
      return; // the chart keeps its last figures
    }
    this.renderChart();
  }

  scheduleChart(delay = 1500) {
    clearTimeout(this.chartTimer);
    this.chartTimer = setTimeout(() => this.loadChart(), delay);
  }

  clear() {
    clearTimeout(this.chartTimer);
    this.board = null;
    this.hours = [];
    this.render();
  }

  renderChart() {
    const hours = this.hours;
    if (!hours.length) {
      this.chartElement.replaceChildren();
      return;
    }
    const width = 600;
    const height = 160;
    const left = 28;
    const bottom = 20;
    const top = 10;
    const peak = Math.max(1, ...hours.map((hour) => hour.total));
    const step = (width - left) / hours.length;
    const scale = (height - bottom - top) / peak;
    const bars = [];
    for (const [index, hour] of hours.entries()) {
      const x = left + index * step + 2;
      // Without the gateway's answered figure, everything not missed counts as answered.
      const answered = hour.answered ?? hour.total - hour.missed;
      const other = Math.max(0, hour.total - answered - hour.missed);
      const answeredHeight = answered * scale;
      const missedHeight = hour.missed * scale;
      const otherHeight = other * scale;
      const base = height - bottom;
      const barTop = base - answeredHeight - missedHeight - otherHeight;
      const hourText = `${String(hour.start.getHours()).padStart(2, "0")}:00`;
      const description = t("board.chart_desc", { hour: hourText, total: hour.total, answered, missed: hour.missed });
      bars.push(
        svg(
          "g",
          { class: "bar", role: "img", "aria-label": description, "data-total": hour.total, "data-missed": hour.missed },
          svg("title", {}, description),
          svg("rect", { class: "bar-other", x, y: barTop, width: step - 4, height: otherHeight }),
          svg("rect", { class: "bar-answered", x, y: barTop + otherHeight, width: step - 4, height: answeredHeight }),
          svg("rect", { class: "bar-missed", x, y: base - missedHeight, width: step - 4, height: missedHeight }),
          hour.total ? svg("text", { class: "bar-value", x: x + (step - 4) / 2, y: barTop - 2, "text-anchor": "middle" }, String(hour.total)) : "",
          svg("text", { class: "axis", x: x + (step - 4) / 2, y: height - 5, "text-anchor": "middle" }, hourText.slice(0, 2)),
        ),
      );
    }
    const chart = svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, class: "chart-svg", role: "group", "aria-label": t("board.chart") },
      svg("line", { class: "axis-line", x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
      svg("text", { class: "axis", x: left - 4, y: top + 8, "text-anchor": "end" }, String(peak)),
      ...bars,
    );
    const legend = el(
      "p",
      { class: "legend" },
      el("span", { class: "swatch swatch-answered", "aria-hidden": "true" }),
      t("board.chart_answered"),
      " ",
      el("span", { class: "swatch swatch-missed", "aria-hidden": "true" }),
      t("board.chart_missed"),
      " ",
      el("span", { class: "swatch swatch-other", "aria-hidden": "true" }),
      t("board.chart_other"),
    );
    this.chartElement.replaceChildren(chart, legend);
  }
}

/** The gateway's `hourly` buckets ({hour, calls, answered, missed}, oldest first) → the last CHART_HOURS. */
function hoursFrom(hourly) {
  return hourly.slice(-CHART_HOURS).map((bucket) => ({
    start: new Date(bucket.hour),
    total: Number(bucket.calls) || 0,
    missed: Number(bucket.missed) || 0,
    answered: bucket.answered === undefined ? null : Number(bucket.answered) || 0,
  }));
}
