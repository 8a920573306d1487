// Live events: a WebSocket on /api/ws, falling back to Server-Sent Events on /api/events when the
// WebSocket cannot be opened. Both resume after the last cursor seen (?after= / Last-Event-ID), and
// envelopes already seen (cursor <= last) are ignored, so a reconnect never shows an event twice.

const EVENT_TYPES = ["ringing", "answered", "ended", "queue", "pbx", "dial", "gap", "hello"];
const MAX_BACKOFF_MS = 15000;
const WS_FAILURES_BEFORE_SSE = 2;

export class PushClient {
  /**
   * onEnvelope(envelope): every new envelope, in cursor order.
   * onState(state, transport): "connecting" | "open" | "lost", transport "ws" | "sse".
   * onResync(): the server could not resume from our cursor (history too short): reload snapshots.
   */
  constructor({ onEnvelope, onState, onResync }) {
    this.onEnvelope = onEnvelope;
    this.onState = onState;
    this.onResync = onResync;
    this.cursor = null;
    this.transport = typeof WebSocket === "function" ? "ws" : "sse";
    this.wsFailures = 0;
    this.backoff = 500;
    this.socket = null;
    this.source = null;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.closeTransports();
  }

  closeTransports() {
    if (this.socket) {
      this.socket.onopen = this.socket.onclose = this.socket.onerror = this.socket.onmessage = null;
      this.socket.close();
      this.socket = null;
    }
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  connect() {
    if (this.stopped) return;
    this.closeTransports();
    this.onState("connecting", this.transport);
    if (this.transport === "ws") this.connectWebSocket();
    else this.connectEventSource();
  }

  resumeQuery() {
    return this.cursor === null ? "" : `?after=${encodeURIComponent(this.cursor)}`;
  }

  connectWebSocket() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/ws${this.resumeQuery()}`);
    let opened = false;
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.wsFailures = 0;
      this.opened();
    };
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (!opened) {
        this.wsFailures += 1;
        if (this.wsFailures >= WS_FAILURES_BEFORE_SSE && typeof EventSource === "function") this.transport = "sse";
      }
      this.lost();
    };
  }

  connectEventSource() {
    const source = new EventSource(`/api/events${this.resumeQuery()}`, { withCredentials: true });
    this.source = source;
    source.onopen = () => this.opened();
    const handle = (message) => this.receive(message.data, message.lastEventId);
    source.onmessage = handle;
    for (const type of EVENT_TYPES) source.addEventListener(type, handle);
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.source = null;
        this.lost();
      } else {
        this.onState("lost", "sse"); // EventSource retries by itself, sending Last-Event-ID
      }
    };
  }

  opened() {
    this.backoff = 500;
    this.onState("open", this.transport);
  }

  lost() {
    if (this.stopped) return;
    this.onState("lost", this.transport);
    const delay = Math.min(this.backoff, MAX_BACKOFF_MS) * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(text) {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      return; // keep-alives and anything that is not an envelope
    }
    const envelopes = Array.isArray(parsed) ? parsed : Array.isArray(parsed?.events) ? parsed.events : [parsed];
    for (const envelope of envelopes) this.deliver(envelope);
  }

  deliver(envelope) {
    if (!envelope || typeof envelope !== "object" || typeof envelope.type !== "string") return;
    if (envelope.type === "pong") return;
    if (envelope.type === "hello") {
      this.hello(envelope);
      return;
    }
    const cursor = typeof envelope.cursor === "number" ? envelope.cursor : null;
    if (cursor !== null) {
      if (this.cursor !== null && cursor <= this.cursor) return;
      this.cursor = cursor;
    }
    if (envelope.type === "gap" || (envelope.type === "pbx" && envelope.data?.state === "gap")) this.onResync();
    this.onEnvelope(envelope);
  }

  /** The first frame of every connection: the cursor the feed continues after, and the hub's newest. */
  hello(envelope) {
    const newest = envelope.data?.newest;
    if (this.cursor !== null && typeof newest === "number" && newest < this.cursor) {
      // The gateway restarted and counts from zero again: follow from now on and reload the snapshots.
      this.cursor = null;
      this.onResync();
      this.connect();
      return;
    }
    if (typeof envelope.cursor === "number" && (this.cursor === null || envelope.cursor > this.cursor)) {
      this.cursor = envelope.cursor;
    }
  }
}
