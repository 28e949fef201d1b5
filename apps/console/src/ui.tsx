/** Small building blocks shared by the pages: badges, progress bars, images fetched with the key, formatting. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api } from './api';

const BADGE_TONES: Record<string, string> = {
  completed: 'ok',
  normal: 'ok',
  current: 'ok',
  running: 'busy',
  active: 'busy',
  preparing: 'busy',
  queued: 'wait',
  waiting: 'wait',
  'waiting-children': 'wait',
  delayed: 'wait',
  retrying: 'warn',
  failed: 'bad',
  anomalous: 'bad',
  cancelled: 'muted',
  unknown: 'muted',
};

export function Badge({ value, tone }: { value: string; tone?: string }) {
  return <span class={`badge badge-${tone ?? BADGE_TONES[value] ?? 'muted'}`}>{value}</span>;
}

export function ProgressBar({ done, total, label }: { done: number; total: number; label?: string }) {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  return (
    <div class="progress" title={`${done} / ${total}`}>
      <div class="progress-fill" style={{ width: `${(fraction * 100).toFixed(1)}%` }} />
      <span class="progress-label">{label ?? `${done} / ${total}`}</span>
    </div>
  );
}

/** An image of the API (heatmap, mask): fetched with the key and shown from an object URL. */
export function ApiImage({ path, alt, class: className }: { path: string | null; alt: string; class?: string }) {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!path) return;
    let objectUrl: string | null = null;
    let live = true;
    setUrl(null);
    setError(null);
    api.blob(path).then(
      (blob) => {
        if (!live) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      },
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [path]);
  if (!path) return <div class={`image-missing ${className ?? ''}`}>none</div>;
  if (error)
    return (
      <div class={`image-missing ${className ?? ''}`} title={error}>
        {error}
      </div>
    );
  if (!url) return <div class={`image-loading ${className ?? ''}`}>loading…</div>;
  return <img class={className} src={url} alt={alt} />;
}

/** A local file (an image the user picked) shown from an object URL. */
export function FileImage({ file, alt, class: className }: { file: File; alt: string; class?: string }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    const objectUrl = URL.createObjectURL(file);
    setUrl(objectUrl);
    return () => URL.revokeObjectURL(objectUrl);
  }, [file]);
  return url ? <img class={className} src={url} alt={alt} /> : null;
}

export function FieldError({ message }: { message?: string }) {
  return message ? <div class="field-error">{message}</div> : null;
}

export function ErrorBox({ message }: { message: string | null | undefined }) {
  return message ? (
    <div class="error-box" role="alert">
      {message}
    </div>
  ) : null;
}

export function Field({ label, error, hint, children }: { label: string; error?: string; hint?: string; children: ComponentChildren }) {
  return (
    <label class={`field ${error ? 'field-invalid' : ''}`}>
      <span class="field-label">{label}</span>
      {children}
      {hint && !error ? <span class="field-hint">{hint}</span> : null}
      <FieldError message={error} />
    </label>
  );
}

/** Calls `tick` now and every `ms` while `active`; the latest `tick` is used, so it may close over state. */
export function usePolling(tick: () => void | Promise<void>, ms: number, active: boolean): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => void latest.current(), ms);
    return () => clearInterval(timer);
  }, [active, ms]);
}

export function formatNumber(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

export function formatSeconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value < 60) return `${value.toFixed(1)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${Math.round(value - minutes * 60)} s`;
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/** Saves a Blob under a file name through a temporary link. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * A form's submission: busy while it runs, then its notice, or the API's error split into the fields the
 * form shows (`showsField`) and a message for the rest.
 */
export function useSubmission(showsField: (field: string) => boolean) {
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const run = async (action: () => Promise<string>) => {
    setBusy(true);
    setNotice(null);
    try {
      setNotice(await action());
      setFieldErrors({});
      setFormError(null);
    } catch (e) {
      const fields = e instanceof ApiError ? e.fieldMessages() : {};
      const shown = Object.fromEntries(Object.entries(fields).filter(([field]) => showsField(field)));
      const allShown = Object.keys(shown).length > 0 && Object.keys(shown).length === Object.keys(fields).length;
      setFieldErrors(shown);
      setFormError(allShown ? null : (e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return { busy, notice, fieldErrors, formError, setFormError, run };
}

export function SubmitButton({ busy, disabled, label }: { busy: boolean; disabled?: boolean; label: string }) {
  return (
    <button type="submit" class="primary" disabled={busy || disabled}>
      {busy ? 'Submitting…' : label}
    </button>
  );
}

export function Notice({ message }: { message: string | null }) {
  return message ? <div class="notice">{message}</div> : null;
}
