// Labels in Russian and English. The choice is remembered in localStorage ("ajam.lang");
// without one, the browser's language decides (Russian for "ru*", English otherwise).

const STORAGE_KEY = "ajam.lang";

const MESSAGES = {
  en: {
    "app.title": "ajam — operator panel",
    "lang.label": "Language",
    "skip": "Skip to content",
    "login.title": "Sign in",
    "login.username": "User name",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Wrong user name or password.",
    "login.throttled": "Too many attempts. Try again in {seconds} s.",
    "login.error": "Sign-in failed: {message}",
    "logout": "Sign out",
    "user.as": "{username} ({role})",
    "user.extensions": "ext. {extensions}",
    "role.admin": "administrator",
    "role.supervisor": "supervisor",
    "role.operator": "operator",
    "nav.label": "Sections",
    "nav.calls": "Calls",
    "nav.journal": "Journal",
    "nav.board": "Call center",
    "pbx.connected": "PBX connected",
    "pbx.disconnected": "PBX disconnected — reconnecting…",
    "pbx.connecting": "Connecting to the PBX…",
    "pbx.reconnected": "PBX connection restored",
    "push.lost": "Live updates interrupted — reconnecting…",
    "dial.title": "Call",
    "dial.number": "Number to call",
    "dial.from": "From extension",
    "dial.submit": "Call",
    "dial.started": "Calling {number}: your phone {extension} rings first…",
    "dial.pending": "Calling {number}…",
    "dial.call": "Call {number}",
    "dial.error": "Call failed: {message}",
    "dial.status.answered": "{number} answered",
    "dial.status.agent_no_answer": "Your phone did not answer",
    "dial.status.agent_busy": "Your phone is busy",
    "dial.status.busy": "{number} is busy",
    "dial.status.no_answer": "{number} did not answer",
    "dial.status.cancelled": "Call to {number} cancelled",
    "dial.status.failed": "Call to {number} failed",
    "dial.status.timeout": "No result for the call to {number}",
    "pop.incoming": "Incoming call",
    "pop.to": "to {extension}",
    "pop.queue": "queue {queue}",
    "pop.contact": "Open contact card",
    "pop.answered": "Answered by {extension}",
    "pop.ended": "Ended: {outcome}",
    "pop.close": "Close",
    "pop.unknown": "Unknown caller",
    "live.title": "Live calls",
    "live.empty": "No calls right now.",
    "live.state.ringing": "ringing",
    "live.state.talking": "talking",
    "live.state.starting": "dialling",
    "col.time": "Time",
    "col.direction": "Direction",
    "col.caller": "Caller",
    "col.callee": "Called",
    "col.state": "State",
    "col.duration": "Duration",
    "col.answered_by": "Answered by",
    "col.outcome": "Outcome",
    "col.wait": "Wait",
    "col.talk": "Talk",
    "col.recording": "Recording",
    "col.queue": "Queue",
    "dir.inbound": "inbound",
    "dir.outbound": "outbound",
    "dir.internal": "internal",
    "outcome.answered": "answered",
    "outcome.busy": "busy",
    "outcome.no_answer": "no answer",
    "outcome.cancelled": "cancelled",
    "outcome.failed": "failed",
    "outcome.congestion": "congestion",
    "outcome.abandoned": "abandoned",
    "outcome.answered_elsewhere": "answered elsewhere",
    "outcome.unknown_end": "lost track",
    "journal.title": "Call journal",
    "journal.number": "Number (* and ? allowed)",
    "journal.since": "From",
    "journal.until": "To",
    "journal.outcome": "Outcome",
    "journal.direction": "Direction",
    "journal.any": "any",
    "journal.missed": "Missed only",
    "journal.apply": "Show",
    "journal.reset": "Reset",
    "journal.empty": "No calls match.",
    "journal.range": "{first}–{last} of {total}",
    "journal.prev": "Previous page",
    "journal.next": "Next page",
    "journal.missed_mark": "missed",
    "journal.error": "Journal unavailable: {message}",
    "journal.csv": "Export CSV",
    "rec.play": "Play",
    "rec.download": "Download",
    "rec.unavailable": "not available",
    "board.title": "Call center",
    "board.empty": "No queues.",
    "board.waiting": "Waiting",
    "board.nobody_waiting": "Nobody is waiting.",
    "board.longest": "Longest wait",
    "board.answered": "Answered",
    "board.abandoned": "Abandoned",
    "board.average": "Avg. wait",
    "board.agents": "Agents",
    "board.agent": "Agent",
    "board.agent_state": "State",
    "board.in_state": "For",
    "board.calls_taken": "Calls",
    "board.position": "#",
    "board.chart": "Calls per hour (last 12 hours)",
    "board.chart_answered": "answered",
    "board.chart_missed": "missed",
    "board.chart_other": "other (outgoing, internal, not connected)",
    "board.chart_desc": "{hour}: {total} calls, {answered} answered, {missed} missed",
    "board.forbidden": "The call-center board is for supervisors.",
    "board.day": "Last 24 h: {calls} calls, {answered} answered, {abandoned} abandoned",
    "agent.talking": "talking",
    "agent.ringing": "ringing",
    "agent.paused": "paused",
    "agent.available": "available",
    "agent.not_inuse": "available",
    "agent.inuse": "in use",
    "agent.busy": "busy",
    "agent.unavailable": "unavailable",
    "agent.invalid": "invalid",
    "agent.unknown": "unknown",
    "agent.onhold": "on hold",
    "error.session": "Your session has ended. Please sign in again.",
    "error.forbidden": "Not allowed.",
  },
  ru: {
    "app.title": "ajam — панель оператора",
    "lang.label": "Язык",
    "skip": "Перейти к содержимому",
    "login.title": "Вход",
    "login.username": "Имя пользователя",
    "login.password": "Пароль",
    "login.submit": "Войти",
    "login.failed": "Неверное имя пользователя или пароль.",
    "login.throttled": "Слишком много попыток. Повторите через {seconds} с.",
    "login.error": "Не удалось войти: {message}",
    "logout": "Выйти",
    "user.as": "{username} ({role})",
    "user.extensions": "доб. {extensions}",
    "role.admin": "администратор",
    "role.supervisor": "супервизор",
    "role.operator": "оператор",
    "nav.label": "Разделы",
    "nav.calls": "Звонки",
    "nav.journal": "Журнал",
    "nav.board": "Колл-центр",
    "pbx.connected": "АТС подключена",
    "pbx.disconnected": "Нет связи с АТС — переподключение…",
    "pbx.connecting": "Подключение к АТС…",
    "pbx.reconnected": "Связь с АТС восстановлена",
    "push.lost": "Обновления прерваны — переподключение…",
    "dial.title": "Позвонить",
    "dial.number": "Номер",
    "dial.from": "С добавочного",
    "dial.submit": "Позвонить",
    "dial.started": "Звоним на {number}: сначала зазвонит ваш телефон {extension}…",
    "dial.pending": "Звоним на {number}…",
    "dial.call": "Позвонить на {number}",
    "dial.error": "Не удалось позвонить: {message}",
    "dial.status.answered": "{number} ответил",
    "dial.status.agent_no_answer": "Ваш телефон не ответил",
    "dial.status.agent_busy": "Ваш телефон занят",
    "dial.status.busy": "{number} занят",
    "dial.status.no_answer": "{number} не ответил",
    "dial.status.cancelled": "Звонок на {number} отменён",
    "dial.status.failed": "Звонок на {number} не удался",
    "dial.status.timeout": "Нет результата звонка на {number}",
    "pop.incoming": "Входящий звонок",
    "pop.to": "на {extension}",
    "pop.queue": "очередь {queue}",
    "pop.contact": "Открыть карточку клиента",
    "pop.answered": "Ответил {extension}",
    "pop.ended": "Завершён: {outcome}",
    "pop.close": "Закрыть",
    "pop.unknown": "Неизвестный абонент",
    "live.title": "Текущие звонки",
    "live.empty": "Сейчас звонков нет.",
    "live.state.ringing": "звонит",
    "live.state.talking": "разговор",
    "live.state.starting": "набор",
    "col.time": "Время",
    "col.direction": "Направление",
    "col.caller": "Кто звонит",
    "col.callee": "Куда",
    "col.state": "Состояние",
    "col.duration": "Длительность",
    "col.answered_by": "Ответил",
    "col.outcome": "Итог",
    "col.wait": "Ожидание",
    "col.talk": "Разговор",
    "col.recording": "Запись",
    "col.queue": "Очередь",
    "dir.inbound": "входящий",
    "dir.outbound": "исходящий",
    "dir.internal": "внутренний",
    "outcome.answered": "отвечен",
    "outcome.busy": "занято",
    "outcome.no_answer": "нет ответа",
    "outcome.cancelled": "сброшен",
    "outcome.failed": "ошибка",
    "outcome.congestion": "перегрузка",
    "outcome.abandoned": "не дождался",
    "outcome.answered_elsewhere": "ответили другие",
    "outcome.unknown_end": "потерян",
    "journal.title": "Журнал звонков",
    "journal.number": "Номер (можно * и ?)",
    "journal.since": "С",
    "journal.until": "По",
    "journal.outcome": "Итог",
    "journal.direction": "Направление",
    "journal.any": "любой",
    "journal.missed": "Только пропущенные",
    "journal.apply": "Показать",
    "journal.reset": "Сбросить",
    "journal.empty": "Звонков не найдено.",
    "journal.range": "{first}–{last} из {total}",
    "journal.prev": "Предыдущая страница",
    "journal.next": "Следующая страница",
    "journal.missed_mark": "пропущен",
    "journal.error": "Журнал недоступен: {message}",
    "journal.csv": "Выгрузить CSV",
    "rec.play": "Слушать",
    "rec.download": "Скачать",
    "rec.unavailable": "недоступна",
    "board.title": "Колл-центр",
    "board.empty": "Очередей нет.",
    "board.waiting": "В ожидании",
    "board.nobody_waiting": "Никто не ждёт.",
    "board.longest": "Дольше всех ждёт",
    "board.answered": "Отвечено",
    "board.abandoned": "Не дождались",
    "board.average": "Ср. ожидание",
    "board.agents": "Операторы",
    "board.agent": "Оператор",
    "board.agent_state": "Состояние",
    "board.in_state": "Уже",
    "board.calls_taken": "Звонков",
    "board.position": "№",
    "board.chart": "Звонки по часам (последние 12 часов)",
    "board.chart_answered": "отвечено",
    "board.chart_missed": "пропущено",
    "board.chart_other": "прочие (исходящие, внутренние, без соединения)",
    "board.chart_desc": "{hour}: звонков {total}, отвечено {answered}, пропущено {missed}",
    "board.forbidden": "Табло колл-центра доступно супервизорам.",
    "board.day": "За 24 ч: звонков {calls}, отвечено {answered}, не дождались {abandoned}",
    "agent.talking": "разговаривает",
    "agent.ringing": "звонит",
    "agent.paused": "пауза",
    "agent.available": "свободен",
    "agent.not_inuse": "свободен",
    "agent.inuse": "занят",
    "agent.busy": "занят",
    "agent.unavailable": "недоступен",
    "agent.invalid": "ошибка",
    "agent.unknown": "неизвестно",
    "agent.onhold": "на удержании",
    "error.session": "Сеанс завершён. Войдите снова.",
    "error.forbidden": "Нет доступа.",
  },
};

export const LANGUAGES = Object.freeze(Object.keys(MESSAGES));

function initialLanguage() {
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null; // storage disabled: fall back to the browser's language
  }
  if (stored && MESSAGES[stored]) return stored;
  const preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of preferred) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (MESSAGES[base]) return base;
  }
  return "en";
}

let current = initialLanguage();
const listeners = new Set();

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!MESSAGES[lang] || lang === current) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // not remembered, still switched
  }
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The label for `key` in the current language, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Whether a label exists (used for values such as outcomes that may be new to this page). */
export function has(key) {
  return key in MESSAGES[current] || key in MESSAGES.en;
}

/** Fill every element carrying data-i18n (text), data-i18n-label (aria-label), data-i18n-placeholder. */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of root.querySelectorAll("[data-i18n-label]")) element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  for (const element of root.querySelectorAll("[data-i18n-title]")) element.title = t(element.dataset.i18nTitle);
  for (const element of root.querySelectorAll("[data-i18n-placeholder]")) element.placeholder = t(element.dataset.i18nPlaceholder);
}
