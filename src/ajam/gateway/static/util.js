// Small DOM and formatting helpers. Everything from the server is inserted as text, never as HTML.

import { language, t, has } from "./i18n.js";

/** el("td", {class: "num", dataset: {x: 1}}, child, "text") */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "text") element.textContent = value;
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Seconds → "m:ss" or "h:mm:ss". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function parseTime(iso) {
  if (!iso) return null;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? null : value;
}

export function formatDateTime(iso) {
  const value = parseTime(iso);
  if (value === null) return "";
  const locale = language() === "ru" ? "ru-RU" : "en-GB";
  return new Date(value).toLocaleString(locale, {
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** A translated value such as an outcome or agent state; unknown values are shown as sent. */
export function label(prefix, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = `${prefix}.${String(value).toLowerCase()}`;
  return has(key) ? t(key) : String(value);
}

/** Numbers a person can dial: digits with an optional leading +, at least 2 characters. */
export function dialable(number) {
  return typeof number === "string" && /^\+?[0-9]{2,}$/.test(number.trim());
}

let dialHandler = () => {};

export function setDialHandler(handler) {
  dialHandler = handler;
}

/** A phone number as a button that starts click-to-call (plain text when it cannot be dialled). */
export function phone(number, name = "") {
  const text = name && name !== number ? `${number} · ${name}` : number || "";
  if (!dialable(number)) return el("span", { class: "party", text: text || "—" });
  return el("button", {
    type: "button",
    class: "phone",
    dataset: { dial: number },
    title: t("dial.call", { number }),
    "aria-label": t("dial.call", { number }) + (name && name !== number ? ` (${name})` : ""),
    text,
    onclick: () => dialHandler(number),
  });
}
