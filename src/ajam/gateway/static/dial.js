// Click-to-call: POST /api/dial answers 202 {id} at once; the outcome arrives as a `dial` envelope
// (data.id = that id) and, in case the push channel is down, by polling GET /api/dial/{id}.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./util.js";

const POLL_MS = 1500;
const GIVE_UP_MS = 150_000;

export class Dialer {
  constructor({ form, number, fromLabel, fromSelect, fromInput, submit, status }) {
    Object.assign(this, { form, number, fromLabel, fromSelect, fromInput, submit, status });
    this.pending = new Map(); // id → {number, extension, started, timer}
    this.message = null; // {key, params, kind} to re-render on a language switch
    this.me = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.dial(this.number.value.trim());
    });
  }

  /** Operators dial from their own extension (a choice when they have several); others type one. */
  configure(me) {
    this.me = me;
    const own = me.extensions ?? [];
    this.fromSelect.hidden = own.length < 2;
    this.fromInput.hidden = own.length > 0;
    this.fromLabel.hidden = own.length === 1;
    this.fromSelect.replaceChildren(...own.map((extension) => el("option", { value: extension, text: extension })));
    this.fromInput.required = own.length === 0;
  }

  fromExtension() {
    const own = this.me?.extensions ?? [];
    if (own.length === 1) return own[0];
    if (own.length > 1) return this.fromSelect.value;
    return this.fromInput.value.trim();
  }

  say(key, params = {}, kind = "info") {
    this.message = { key, params, kind };
    this.status.textContent = t(key, params);
    this.status.dataset.kind = kind;
  }

  async dial(number) {
    if (!number) {
      this.number.focus();
      return;
    }
    this.number.value = number;
    const extension = this.fromExtension();
    if (!extension) {
      this.fromInput.focus();
      return;
    }
    this.submit.disabled = true;
    try {
      const reply = await api.dial(number, extension);
      const id = String(reply?.id ?? "");
      this.say("dial.started", { number, extension }, "pending");
      if (id) {
        const entry = { number, extension, started: Date.now(), timer: null };
        this.pending.set(id, entry);
        this.schedulePoll(id);
      }
    } catch (error) {
      this.say("dial.error", { message: error.message }, "error");
    } finally {
      this.submit.disabled = false;
    }
  }

  schedulePoll(id) {
    const entry = this.pending.get(id);
    if (!entry) return;
    entry.timer = setTimeout(async () => {
      if (!this.pending.has(id)) return;
      try {
        const result = await api.dialResult(id);
        if (result && result.state !== "pending" && result.status) {
          this.finish(id, result);
          return;
        }
      } catch (error) {
        if (error.status === 404 || error.status === 403) {
          this.pending.delete(id);
          return;
        }
      }
      if (Date.now() - entry.started > GIVE_UP_MS) this.finish(id, { status: "timeout" });
      else this.schedulePoll(id);
    }, POLL_MS);
  }

  /** A `dial` envelope. */
  handle(envelope) {
    const data = envelope.data || {};
    const id = data.id !== undefined ? String(data.id) : [...this.pending.keys()].find((key) => this.pending.get(key).actionId === data.action_id);
    if (id && this.pending.has(id) && data.status) this.finish(id, data);
  }

  finish(id, result) {
    const entry = this.pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    const status = String(result.status);
    const key = `dial.status.${status}`;
    const kind = status === "answered" ? "ok" : "error";
    this.say(t(key) === key ? "dial.status.failed" : key, { number: entry.number, extension: entry.extension }, kind);
    this.status.dataset.result = status;
  }

  rerender() {
    if (this.message) this.status.textContent = t(this.message.key, this.message.params);
  }

  reset() {
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
    this.message = null;
    this.status.textContent = "";
    delete this.status.dataset.result;
    delete this.status.dataset.kind;
  }
}
