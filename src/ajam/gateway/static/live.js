// Live calls: a snapshot from GET /api/calls/live, kept current by ringing/answered/ended envelopes.
// Calls that ended are remembered for a while so a snapshot fetched in a race cannot bring them back.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { duration, el, label, parseTime, phone } from "./util.js";

const ENDED_MEMORY_MS = 5 * 60 * 1000;

export class LiveCalls {
  constructor({ body, empty }) {
    this.body = body;
    this.empty = empty;
    this.calls = new Map(); // id → call JSON
    this.ended = new Map(); // id → when it ended (ms)
    this.rows = new Map(); // id → {row, durationCell}
    this.seen = new Map(); // id → {started, answered}: local times this page first saw the call / its answer
  }

  /** Remember when this page first saw the call and its answer: the fallback for a PBX clock ahead of ours. */
  note(call) {
    const now = Date.now();
    const seen = this.seen.get(call.id) ?? { started: now, answered: null };
    if (call.answered_at && seen.answered === null) seen.answered = now;
    this.seen.set(call.id, seen);
  }

  async load() {
    const snapshot = await api.liveCalls();
    const now = Date.now();
    for (const [id, at] of this.ended) if (now - at > ENDED_MEMORY_MS) this.ended.delete(id);
    this.calls.clear();
    for (const call of snapshot?.items ?? []) {
      if (call && call.id && !this.ended.has(call.id) && !call.outcome) {
        this.calls.set(call.id, call);
        this.note(call);
      }
    }
    this.render();
  }

  handle(envelope) {
    const call = envelope.data?.call;
    if (!call || !call.id) return;
    if (envelope.type === "ended" || call.outcome) {
      this.ended.set(call.id, Date.now());
      this.calls.delete(call.id);
      this.seen.delete(call.id);
    } else if (!this.ended.has(call.id)) {
      this.calls.set(call.id, call);
      this.note(call);
    }
    this.render();
  }

  clear() {
    this.calls.clear();
    this.seen.clear();
    this.render();
  }

  render() {
    const calls = [...this.calls.values()].sort((a, b) => (parseTime(a.started_at) ?? 0) - (parseTime(b.started_at) ?? 0));
    this.rows.clear();
    this.body.replaceChildren(
      ...calls.map((call) => {
        const talking = Boolean(call.answered_at);
        const state = talking ? "talking" : call.ringing_at || (call.rang && call.rang.length) ? "ringing" : "starting";
        const durationCell = el("td", { class: "num timer" });
        const row = el(
          "tr",
          { class: `live-${state}`, dataset: { callId: call.id } },
          el("td", { text: label("dir", call.direction) }),
          el("td", {}, phone(call.caller?.number, call.caller?.name)),
          el("td", {}, phone(call.callee?.number, call.callee?.name)),
          el("td", {}, el("span", { class: `badge state-${state}`, text: t(`live.state.${state}`) })),
          el("td", { text: call.queue || "" }),
          durationCell,
        );
        this.rows.set(call.id, { call, durationCell });
        return row;
      }),
    );
    this.empty.hidden = calls.length > 0;
    this.tick();
  }

  /** Update the running durations (talk time once answered, else time since the start). */
  tick() {
    const now = Date.now();
    for (const { call, durationCell } of this.rows.values()) {
      const seen = this.seen.get(call.id);
      const local = call.answered_at ? seen?.answered : seen?.started;
      let from = parseTime(call.answered_at) ?? parseTime(call.started_at);
      if (from === null || (from > now && local)) from = local ?? null;
      durationCell.textContent = from === null ? "" : duration((now - from) / 1000);
    }
  }
}
