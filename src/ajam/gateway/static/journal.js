// The call journal: filters (number, period, outcome, direction, missed), pages of PAGE_SIZE, missed
// calls highlighted (colour plus a text mark), recordings played on demand and downloadable.

import { api, journalCsvUrl, recordingUrl } from "./api.js";
import { t } from "./i18n.js";
import { duration, el, formatDateTime, label, phone } from "./util.js";

export const PAGE_SIZE = 25;
const OUTCOMES = ["answered", "busy", "no_answer", "cancelled", "abandoned", "failed", "congestion", "unknown_end"];
const DIRECTIONS = ["inbound", "outbound", "internal"];
const MISSED_OUTCOMES = new Set(["busy", "no_answer", "cancelled", "abandoned", "failed", "congestion"]);

/** The journal's own rule (ajam.calls.journal.filters.missed_condition). */
export function isMissed(call) {
  if (call.direction !== "inbound") return false;
  return MISSED_OUTCOMES.has(call.outcome) || (call.outcome === "unknown_end" && !call.answered_at);
}

function isoFromLocalInput(value) {
  if (!value) return undefined;
  const moment = new Date(value);
  return Number.isNaN(moment.getTime()) ? undefined : moment.toISOString();
}

export class Journal {
  constructor({ form, body, empty, range, prev, next, error, csv, outcome, direction }) {
    Object.assign(this, { form, body, empty, range, prev, next, error, csv, outcomeSelect: outcome, directionSelect: direction });
    this.offset = 0;
    this.total = 0;
    this.items = [];
    this.loading = null;
    this.refreshTimer = null;
    this.canExport = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.offset = 0;
      this.load();
    });
    form.addEventListener("reset", () => {
      setTimeout(() => {
        this.offset = 0;
        this.load();
      });
    });
    prev.addEventListener("click", () => {
      this.offset = Math.max(0, this.offset - PAGE_SIZE);
      this.load();
    });
    next.addEventListener("click", () => {
      if (this.offset + PAGE_SIZE < this.total) {
        this.offset += PAGE_SIZE;
        this.load();
      }
    });
    this.fillSelects();
  }

  fillSelects() {
    const fill = (select, prefix, values) => {
      const chosen = select.value;
      select.replaceChildren(
        el("option", { value: "", text: t("journal.any") }),
        ...values.map((value) => el("option", { value, text: label(prefix, value) })),
      );
      select.value = chosen;
    };
    fill(this.outcomeSelect, "outcome", OUTCOMES);
    fill(this.directionSelect, "dir", DIRECTIONS);
  }

  filters() {
    const data = new FormData(this.form);
    return {
      number: String(data.get("number") || "").trim() || undefined,
      since: isoFromLocalInput(data.get("since")),
      until: isoFromLocalInput(data.get("until")),
      outcome: data.get("outcome") || undefined,
      direction: data.get("direction") || undefined,
      missed: data.get("missed") ? "true" : undefined,
    };
  }

  async load() {
    const query = { ...this.filters(), limit: PAGE_SIZE, offset: this.offset };
    this.csv.hidden = !this.canExport;
    this.csv.href = journalCsvUrl(query);
    const pending = api.journal(query);
    this.loading = pending;
    try {
      const page = await pending;
      if (this.loading !== pending) return; // a newer request replaced this one
      this.items = page?.items ?? [];
      this.total = page?.total ?? this.items.length;
      this.error.textContent = "";
    } catch (error) {
      if (this.loading !== pending) return;
      this.items = [];
      this.total = 0;
      this.error.textContent = t("journal.error", { message: error.message });
    }
    this.render();
  }

  /** A call ended: reload soon when the first page is shown (later pages would shift under the reader). */
  callEnded() {
    if (this.offset !== 0) return;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.load(), 400);
  }

  render() {
    this.body.replaceChildren(...this.items.map((call) => this.row(call)));
    this.empty.hidden = this.items.length > 0;
    const first = this.total === 0 ? 0 : this.offset + 1;
    const last = Math.min(this.offset + this.items.length, this.total);
    this.range.textContent = t("journal.range", { first, last, total: this.total });
    this.prev.disabled = this.offset === 0;
    this.next.disabled = this.offset + PAGE_SIZE >= this.total;
  }

  row(call) {
    const missed = isMissed(call);
    const outcome = el("td", {}, label("outcome", call.outcome));
    if (missed) outcome.append(" ", el("span", { class: "badge missed-mark", text: t("journal.missed_mark") }));
    return el(
      "tr",
      { class: missed ? "missed" : "", dataset: { callId: call.id, outcome: call.outcome || "" } },
      el("td", { class: "nowrap", text: formatDateTime(call.started_at || call.ringing_at || call.ended_at) }),
      el("td", { text: label("dir", call.direction) }),
      el("td", {}, phone(call.caller?.number, call.caller?.name)),
      el("td", {}, phone(call.callee?.number, call.callee?.name)),
      el("td", {}, call.answered_by ? phone(call.answered_by) : ""),
      outcome,
      el("td", { class: "num", text: duration(call.wait_seconds) }),
      el("td", { class: "num", text: call.talk_seconds ? duration(call.talk_seconds) : "" }),
      el("td", {}, call.recording ? recordingControls(call.id) : ""),
    );
  }

  rerender() {
    this.fillSelects();
    this.render();
  }
}

/** Play (an <audio> created on demand, so a page of rows loads no audio) and download. */
function recordingControls(callId) {
  const url = recordingUrl(callId);
  const cell = el("div", { class: "recording" });
  const play = el("button", {
    type: "button",
    class: "secondary small",
    text: `▶ ${t("rec.play")}`,
    onclick: () => {
      const audio = el("audio", { controls: true, preload: "auto", src: url, class: "player" });
      audio.addEventListener("error", () => {
        cell.replaceChildren(el("span", { class: "muted", text: t("rec.unavailable") }));
      });
      play.replaceWith(audio);
      audio.play().catch(() => {});
      audio.focus();
    },
  });
  cell.append(play, el("a", { class: "button secondary small", href: url, download: `${callId}.wav`, text: t("rec.download") }));
  return cell;
}
