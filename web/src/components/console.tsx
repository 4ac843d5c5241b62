/**
 * The VM's serial console: xterm.js over `/api/v1/vms/{id}/console?token=` (binary frames both ways; the
 * daemon replays recent output first). Typing is sent as UTF-8; the terminal fits its box on resize; a dropped
 * connection is retried with backoff and the status shown.
 */
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { session, wsUrl } from '../api';

type Status = 'connecting' | 'connected' | 'disconnected';

export function SerialConsole({ vmId, readOnly }: { vmId: string; readOnly: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<Status>('connecting');
  const [detail, setDetail] = useState('');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const term = new Terminal({
      convertEol: false,
      cursorBlink: !readOnly,
      disableStdin: readOnly,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
      fontSize: 13,
      scrollback: 5000,
      theme: { background: '#0b0e14', foreground: '#d7dae0' },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    const ro = new ResizeObserver(() => {
      try {
        fit.fit();
      } catch {
        /* box hidden */
      }
    });
    ro.observe(el);

    let ws: WebSocket | null = null;
    let stopped = false;
    let retryMs = 500;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const encoder = new TextEncoder();
    let firstConnect = true;

    const connect = (): void => {
      const token = session.get()?.token ?? '';
      setStatus('connecting');
      const sock = new WebSocket(wsUrl(`/api/v1/vms/${encodeURIComponent(vmId)}/console?token=${encodeURIComponent(token)}`));
      sock.binaryType = 'arraybuffer';
      ws = sock;
      sock.onopen = () => {
        retryMs = 500;
        setStatus('connected');
        setDetail('');
        // The daemon replays its recent output to every new viewer: start from a clean screen.
        if (!firstConnect) term.reset();
        firstConnect = false;
      };
      sock.onmessage = (m) => {
        if (m.data instanceof ArrayBuffer) term.write(new Uint8Array(m.data));
        else term.write(String(m.data));
      };
      sock.onclose = (ev) => {
        ws = null;
        if (stopped) return;
        setStatus('disconnected');
        setDetail(ev.reason || 'connection closed');
        timer = setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 8000);
      };
    };
    const input = term.onData((d) => {
      if (!readOnly && ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(d));
    });
    connect();
    term.focus();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      input.dispose();
      ro.disconnect();
      ws?.close();
      term.dispose();
    };
  }, [vmId, readOnly]);

  return (
    <div className="console">
      <div className="console-status">
        <span className={`dot dot-${status}`} /> {status}
        {detail && status !== 'connected' ? ` — ${detail}; retrying` : ''}
        {readOnly ? ' · view only (viewer role)' : ''}
      </div>
      <div ref={box} className="console-term" data-testid="console" />
    </div>
  );
}
