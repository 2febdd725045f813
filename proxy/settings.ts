// The proxy's settings, read from environment variables (Node) or text bindings (workerd and
// Workers): one reader, so the names, defaults and errors are the same on every runtime.
import { parseInsecureList } from './policy.ts';

export interface ProxySettings {
  insecureRegistries: string[];
  allowedOrigins: string[];
  timeoutMs?: number;
  idleTimeoutMs?: number;
  /** Requests per minute per client address; 0 disables; undefined means the default. */
  rateLimit?: number;
  log?: (line: string) => void;
}

/**
 * A setting's text. wrangler turns a TOML number (`BERTH_PROXY_RATE_LIMIT = 600`) into a JSON
 * binding, so numbers are read as their text too.
 */
export function settingText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value).trim() : '';
}

/** A comma-separated setting as its entries. */
export function settingList(value: unknown): string[] {
  return settingText(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function settingNumber(
  env: Record<string, unknown>,
  name: string,
  ok: (n: number) => boolean,
  what: string,
): number | undefined {
  const raw = settingText(env[name]);
  if (!raw) return undefined;
  const n = Number(raw);
  if (!ok(n)) throw new Error(`${name} must be ${what}`);
  return n;
}

/** Reads the BERTH_* settings; throws, naming the setting, when one cannot be read. */
export function proxySettings(env: Record<string, unknown>): ProxySettings {
  const positive = (n: number) => Number.isFinite(n) && n > 0;
  const ms = 'a positive number of milliseconds';
  return {
    insecureRegistries: parseInsecureList(settingList(env.BERTH_INSECURE_REGISTRIES)),
    allowedOrigins: settingList(env.BERTH_ALLOWED_ORIGINS),
    timeoutMs: settingNumber(env, 'BERTH_PROXY_TIMEOUT_MS', positive, ms),
    idleTimeoutMs: settingNumber(env, 'BERTH_PROXY_IDLE_TIMEOUT_MS', positive, ms),
    rateLimit: settingNumber(
      env,
      'BERTH_PROXY_RATE_LIMIT',
      (n) => Number.isFinite(n) && n >= 0,
      'a number of requests per minute (0 disables the limit)',
    ),
    log:
      settingText(env.BERTH_PROXY_LOG) === '1' ? (line) => console.log(`proxy ${line}`) : undefined,
  };
}
