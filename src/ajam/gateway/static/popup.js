// The screen pop: a card per call ringing on one of the user's own extensions, with the caller's
// number and name and a link to the contact in the CRM. It follows the call (answered, ended) and goes
// away a few seconds after the end, or when closed (its button or Escape). It never takes the focus:
// the container is an aria-live region, so screen readers announce it without interrupting typing.

import { t } from "./i18n.js";
import { el, label, phone } from "./util.js";

export const DEFAULT_CONTACT_URL = "https://crm.example/clients?phone={number}";
const KEEP_AFTER_END_MS = 8000;

/** Fill {number}, {name}, {extension}, {call_id} (URL-encoded); only http(s) results are links. */
export function contactLink(template, values) {
  const filled = String(template || DEFAULT_CONTACT_URL).replace(/\{(number|name|extension|call_id)\}/g, (whole, key) =>
    encodeURIComponent(values[key] ?? ""),
  );
  try {
    const url = new URL(filled, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export class ScreenPop {
  constructor(container, { extensions, contactTemplate }) {
    this.container = container;
    this.extensions = extensions; // () => array of the user's own extensions
    this.contactTemplate = contactTemplate; // () => template string
    this.cards = new Map(); // call id → {data, state, element, timer}
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.cards.size && !event.defaultPrevented) {
        const newest = [...this.cards.keys()].pop();
        this.close(newest);
      }
    });
  }

  handle(envelope) {
    const data = envelope.data || {};
    const call = data.call;
    if (!call || !call.id) return;
    const mine = this.extensions();
    if (envelope.type === "ringing") {
      if (!data.extension || !mine.includes(String(data.extension))) return;
      // A click-to-call rings the agent's own phone first: that is no incoming call.
      if (call.direction === "outbound" || call.caller?.number === String(data.extension)) return;
      const existing = this.cards.get(call.id);
      this.show(call.id, { ...data, contact: data.contact ?? existing?.data.contact ?? null }, "ringing");
    } else if (envelope.type === "answered" && this.cards.has(call.id)) {
      this.show(call.id, { ...this.cards.get(call.id).data, call, answeredBy: data.extension || call.answered_by }, "answered");
    } else if (envelope.type === "ended" && this.cards.has(call.id)) {
      const card = this.cards.get(call.id);
      this.show(call.id, { ...card.data, call }, "ended");
      clearTimeout(card.timer);
      card.timer = setTimeout(() => this.close(call.id), KEEP_AFTER_END_MS);
    }
  }

  show(callId, data, state) {
    let card = this.cards.get(callId);
    if (!card) {
      card = { element: el("section", { class: "popup", "aria-label": t("pop.incoming") }), timer: null };
      this.cards.set(callId, card);
      this.container.prepend(card.element);
    }
    card.data = data;
    card.state = state;
    card.updated = Date.now();
    this.render(callId, card);
  }

  render(callId, card) {
    const { call, extension, contact, answeredBy } = card.data;
    const number = call.caller?.number || "";
    const name = contact?.name || call.caller?.name || "";
    // The gateway fills the link for the ringing envelope (data.contact_url); a contact lookup may give
    // its own (contact.url); else the page fills the template from /api/me.
    const given = [card.data.contact_url, contact?.url].find((url) => typeof url === "string" && url);
    const href = contactLink(given ?? this.contactTemplate(), { number, name, extension, call_id: call.id });
    card.element.className = `popup popup-${card.state}`;
    card.element.dataset.callId = callId;
    card.element.setAttribute("aria-label", t("pop.incoming"));
    let status = "";
    if (card.state === "answered") status = t("pop.answered", { extension: answeredBy || "" });
    if (card.state === "ended") status = t("pop.ended", { outcome: label("outcome", call.outcome) });
    const parts = [
      el(
        "header",
        {},
        el("h2", { class: "popup-title", text: t("pop.incoming") }),
        el("button", { type: "button", class: "icon", "aria-label": t("pop.close"), title: t("pop.close"), text: "×", onclick: () => this.close(callId) }),
      ),
      el("p", { class: "popup-number" }, number ? phone(number) : t("pop.unknown")),
      el("p", { class: "popup-name", text: name || t("pop.unknown") }),
      el(
        "p",
        { class: "popup-meta" },
        extension ? t("pop.to", { extension }) : "",
        call.queue ? ` · ${t("pop.queue", { queue: call.queue })}` : "",
      ),
      href ? el("a", { class: "button popup-contact", href, target: "_blank", rel: "noopener noreferrer", text: t("pop.contact") }) : null,
      status ? el("p", { class: "popup-status", text: status }) : null,
    ];
    card.element.replaceChildren(...parts.filter(Boolean));
  }

  close(callId) {
    const card = this.cards.get(callId);
    if (!card) return;
    clearTimeout(card.timer);
    card.element.remove();
    this.cards.delete(callId);
  }

  /** Close the cards of calls no longer live (their end was missed, e.g. during a reconnect); cards
   * updated after the live snapshot was asked for (`asked`, ms) are newer than it and stay. */
  prune(isLive, asked) {
    for (const [callId, card] of [...this.cards]) {
      if (card.state !== "ended" && card.updated < asked && !isLive(callId)) this.close(callId);
    }
  }

  rerender() {
    for (const [callId, card] of this.cards) this.render(callId, card);
  }

  clear() {
    for (const callId of [...this.cards.keys()]) this.close(callId);
  }
}
