/**
 * `postgresOptions`: Postgres.js options with a fresh token for every connection, verified TLS by
 * default and the core's refusals. Mirrors the Python package's `passmint/asyncpg.py`: it reads
 * the driver's own settings as the driver does, then adds what the caller left out.
 */

import { invalid } from './errors'
import { callerNamedUser, kindOf, oneUser, passwordGetter, type TokenSource } from './helpers'
import { type HelperOptions, type TlsSetting, type VerifiedTls, decide, objectSetting, verifiedTls } from './tls'

declare const process: { env: Record<string, string | undefined> }
declare class URL {
  constructor(url: string)
  readonly username: string
  readonly hostname: string
  readonly searchParams: { forEach(fn: (value: string, key: string) => void): void }
}

const HELPER = 'postgresOptions()'

type HelperKeys = 'allowPlaintext' | 'allowUnverifiedTls'
type SslOf<O> = O extends { ssl?: infer S } ? S : never

/**
 * Postgres.js options as {@link postgresOptions} hands them back: the caller's `O`, less the helper
 * options, plus these.
 */
export type PostgresOptions<O extends object = Record<string, unknown>> = Omit<O, HelperKeys | 'ssl'> & {
  /** Called by Postgres.js for every new connection: the provider's current token. */
  pass: () => Promise<string>
  /** The caller's choice, or the verified TLS the helper added. */
  ssl?: SslOf<O> | VerifiedTls
  user?: string
  host?: string
}

/** What {@link postgresOptions} reads of a provider; `password` is the provider's bound token getter. */
export interface PostgresTokenSource extends TokenSource {
  readonly password?: () => Promise<string>
}

/** The parts of a Postgres.js URL its own parser reads: the query, the user and the first host. */
interface UrlParts {
  query: Map<string, string>
  username: string
  hostname: string
  multihost: boolean
}

function parseUrl(url: string): UrlParts {
  // As Postgres.js does: a multi-host URL is parsed with its first host in place of the list.
  const afterScheme = url.slice(url.indexOf('://') + 3).split(/[?/]/)[0]
  const hosts = decodeURIComponent(afterScheme.slice(afterScheme.indexOf('@') + 1))
  let parsed: URL
  try {
    parsed = new URL(url.replace(hosts, hosts.split(',')[0]))
  } catch {
    throw invalid(`${HELPER}: not a postgres URL Postgres.js can read`)
  }
  const query = new Map<string, string>()
  parsed.searchParams.forEach((value, key) => query.set(key, value))
  return { query, username: decodeURIComponent(parsed.username), hostname: parsed.hostname, multihost: hosts.includes(',') }
}

/** The caller's TLS choice, read in Postgres.js's order: the option, the URL, then PGSSL. */
function tlsChoice(options: Record<string, unknown>, url: UrlParts | undefined): TlsSetting {
  if ('ssl' in options && options.ssl !== undefined) {
    const ssl = options.ssl
    if (!ssl) return { setting: 'off', shown: `ssl: ${JSON.stringify(ssl)}` }
    if (ssl === true) return { setting: 'verified' }
    if (typeof ssl === 'object') return objectSetting(ssl)
    return { setting: 'mode', value: String(ssl), source: 'ssl' }
  }
  const query = url?.query
  if (query?.get('sslrootcert') === 'system') return { setting: 'verified' }
  for (const name of ['sslmode', 'ssl']) {
    const value = query?.get(name)
    if (value === undefined) continue
    // Postgres.js reads these two as false, any other value as a mode name.
    if (value === 'disable' || value === 'false') return { setting: 'off', shown: `${name}=${value} in the URL` }
    return { setting: 'mode', value, source: name }
  }
  const env = process.env.PGSSL
  if (env) return { setting: 'mode', value: env, source: 'PGSSL' }
  return { setting: 'unset' }
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((v): v is string => typeof v === 'string' && v !== '')
}

/**
 * Postgres.js options that log in with the provider's tokens:
 * `postgres(url, await postgresOptions(provider, url, { max: 10 }))` or
 * `postgres(await postgresOptions(provider, { database: 'postgres' }))`.
 *
 * - `pass` is the provider's token, fetched by Postgres.js for every new connection;
 * - `host` is `provider.host` when neither the options, the URL nor PGHOST name one;
 * - `user`, when neither the options, the URL, PGUSERNAME nor PGUSER name one, is the role the
 *   token names (this may mint the first token now), else an INVALID_CONFIG error;
 * - TLS: when neither `ssl`, the URL's `ssl`/`sslmode` nor PGSSL chose, verified TLS (Node's
 *   roots, the host name checked). Plaintext (`ssl: false`, `prefer`) is refused unless
 *   `allowPlaintext`, TLS that checks no name (`require`, `allow`, `rejectUnauthorized: false`)
 *   unless `allowUnverifiedTls`. Refusals come before any token is minted.
 *
 * `allowPlaintext` and `allowUnverifiedTls` are read from `options` and not passed on.
 *
 * Rotation: Postgres.js only calls `pass` and has no hook that sees a refused login, so these
 * options do not retry one. A connection refused with `code === '28P01'` fails; the next one asks
 * `pass` again, which gets a fresh token once the provider dropped the cached one (the source's
 * `refresh`, a changed `file://`, or `provider.passwordRefused(password)`). Postgres.js takes one
 * `user` for all its connections: it is read here, once, so a source whose username changes
 * (Vault dynamic credentials) needs new options and a new `postgres()` after a new lease.
 */
export function postgresOptions<O extends object = Record<string, never>>(provider: PostgresTokenSource,
  options?: O & HelperOptions): Promise<PostgresOptions<O>>
export function postgresOptions<O extends object = Record<string, never>>(provider: PostgresTokenSource, url: string,
  options?: O & HelperOptions): Promise<PostgresOptions<O>>
export async function postgresOptions(provider: PostgresTokenSource, url?: string | object, options?: object): Promise<object> {
  if (typeof provider?.tokenInfo !== 'function') throw invalid(`${HELPER}: provider must be a passmint Provider`)
  if (url !== undefined && typeof url !== 'string') {
    if (options !== undefined) throw invalid(`${HELPER}: takes (provider, url, options) or (provider, options)`)
    options = url
    url = undefined
  }
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalid(`${HELPER}: options must be an object`)
  }
  const { allowPlaintext, allowUnverifiedTls, ...rest } = (options ?? {}) as Record<string, unknown> & HelperOptions
  if ('pass' in rest || 'password' in rest) {
    throw invalid(`${HELPER}: the password is the provider's token; leave out pass/password`)
  }
  const parts = url === undefined || url === '' ? undefined : parseUrl(url)
  const kind = kindOf(provider)
  const addTls = decide('postgres.js', tlsChoice(rest, parts), HELPER, kind, { allowPlaintext, allowUnverifiedTls })

  const out: Record<string, unknown> = { ...rest, pass: passwordGetter(provider) }
  const named = firstString(rest.host, rest.hostname, parts?.hostname, process.env.PGHOST)
  if (named === undefined && !Array.isArray(rest.host) && provider.host) out.host = provider.host
  if (addTls) {
    const host = parts?.multihost || Array.isArray(rest.host) ? undefined : named ?? out.host
    out.ssl = verifiedTls(host)
  }
  if (!callerNamedUser(rest.user, rest.username, parts?.username, process.env.PGUSERNAME)) {
    out.user = await oneUser(provider, HELPER)
  }
  return out
}
