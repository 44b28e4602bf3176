// Server-sent events over fetch, so the bearer token goes in a header (not a URL) and a
// reconnect resumes with Last-Event-ID. The parser is pure and tested by node; the stream
// reconnects with backoff and reports whether it is live, for the console's banner.

/** An incremental text/event-stream parser: `push(chunk)` returns the complete frames. */
export function createParser() {
  let buffer = '';
  let data = [];
  let event = '';
  let id = null;
  return {
    push(chunk) {
      buffer += chunk;
      const frames = [];
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (data.length) frames.push({ event: event || 'message', id, data: data.join('\n') });
          data = [];
          event = '';
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
      return frames;
    },
  };
}

/** Backoff before reconnect attempt n (1, 2, 4, ... up to 10 s). */
export function backoff(attempt) {
  return Math.min(10000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Follows `url` until `close()`: `onFrame({event, id, data})` for each frame (data parsed as
 * JSON when it is), `onLive(bool)` when the connection comes and goes, `onFatal(status)`
 * when the server refuses the stream for good (401, 403, 404) and it stops.
 */
export function follow(url, { token, onFrame, onLive, onFatal = () => {} }) {
  let lastId = null;
  let closed = false;
  let controller = null;
  let attempt = 0;
  let timer = null;

  async function connect() {
    controller = new AbortController();
    const headers = { accept: 'text/event-stream' };
    const bearer = token();
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (lastId !== null) headers['last-event-id'] = lastId;
    try {
      const response = await fetch(url, { headers, signal: controller.signal });
      // A refused token or a topology that is gone will not come back by retrying.
      if ([401, 403, 404].includes(response.status)) {
        closed = true;
        onLive(false);
        onFatal(response.status);
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      attempt = 0;
      onLive(true);
      const parser = createParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const frame of parser.push(value)) {
          if (frame.id !== null) lastId = frame.id;
          let data = frame.data;
          try {
            data = JSON.parse(frame.data);
          } catch {
            // Not JSON: passed on as text.
          }
          // A server that says the client fell behind names where to resume.
          if (frame.event === 'error' && data && Number.isInteger(data.last_event_id)) lastId = String(data.last_event_id);
          onFrame({ event: frame.event, id: frame.id, data });
        }
      }
    } catch {
      // Reconnects below.
    }
    if (closed) return;
    onLive(false);
    attempt += 1;
    timer = setTimeout(connect, backoff(attempt));
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      controller?.abort();
    },
    get lastEventId() {
      return lastId;
    },
  };
}
