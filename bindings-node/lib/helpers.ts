/**
 * What the driver helpers (Sequelize, Postgres.js, node-postgres) share besides TLS: what they need of a
 * provider, whose role a connection logs in as, and when a refused password is worth one more
 * try. Mirrors the Python package's `passmint/_helpers.py`.
 */

import { translated } from './errors'
import { missingUser } from './native'
import { type Token } from './token'

declare const process: { env: Record<string, string | undefined> }

/** What the helpers need of a provider (any copy of this package's Provider). */
export interface TokenSource {
  tokenInfo(): Promise<Token>
  readonly username: string | null
  /** The provider kind, whose cloud the TLS advice names (`'azure'`, `'dsql'`, `'rds'`). */
  readonly kind?: string
  /** The host tokens are signed for (a DSQL cluster id with its region comes back as the endpoint). */
  readonly host?: string | null
  /**
   * A server refused `password`: true when a fresh token can differ (vault, awssm, file, exec),
   * after dropping it from the cache (see `Provider.passwordRefused`). A provider without it is
   * never retried.
   */
  passwordRefused?(password: string): boolean
}

/** PostgreSQL's SQLSTATE for a password the server refused (`invalid_password`). */
export const INVALID_PASSWORD = '28P01'

/**
 * Whether `error` is the server refusing the password: node-postgres's and Postgres.js's errors
 * carry the SQLSTATE as `code`; an ORM's wrapping error is looked through (`cause`, else
 * `original` and `parent`).
 */
export function passwordRefusedByServer(error: unknown): boolean {
  const seen = new Set<unknown>()
  const todo: unknown[] = [error]
  while (todo.length > 0) {
    const e = todo.pop()
    if (typeof e !== 'object' || e === null || seen.has(e)) continue
    seen.add(e)
    const x = e as { code?: unknown, original?: unknown, parent?: unknown, cause?: unknown }
    if (x.code === INVALID_PASSWORD) return true
    // Sequelize 7 wraps in `cause` and warns on its deprecated `original`/`parent`: read those
    // only where there is no `cause` (Sequelize 6).
    if (x.cause !== undefined) todo.push(x.cause)
    else todo.push(x.original, x.parent)
  }
  return false
}

/**
 * After a connect that sent `password` failed with `error`: whether to connect once more with a
 * fresh token. Only for a password the server refused, and only when the provider says a fresh
 * one can differ; it has then dropped `password` from its cache if still there, so many
 * connections refused at once cause one new fetch. IAM tokens and callbacks: never.
 */
export function retryAfterRefusal(provider: TokenSource, error: unknown, password: unknown): boolean {
  return typeof password === 'string' && typeof provider.passwordRefused === 'function' &&
    passwordRefusedByServer(error) && provider.passwordRefused(password) === true
}

/** The provider's kind as the core names it; a provider of another copy may lack one. */
export function kindOf(provider: TokenSource): string {
  return typeof provider.kind === 'string' ? provider.kind : 'dsql'
}

/** Whether the caller chose a role: a non-empty name, else PGUSER (as the drivers fall back). */
export function callerNamedUser(...names: unknown[]): boolean {
  return names.some((n) => typeof n === 'string' && n.trim() !== '') || !!process.env.PGUSER
}

/**
 * The role a token is for: what the token knows (Entra claims, the signed AWS user), else what
 * the provider was configured with. Neither: the core's INVALID_CONFIG error saying how to find
 * the role, never a login as the OS user.
 */
export function tokenUser(info: Token, provider: TokenSource, helper: string): string {
  const user = info.username ?? provider.username
  if (user) return user
  try {
    missingUser(kindOf(provider), helper)
  } catch (e) {
    throw translated(e)
  }
  throw new Error(`${helper}: missingUser returned`) // unreachable: the core always throws
}

/**
 * What a driver calls for each new connection's password: the provider's bound `password`, or,
 * for a token source without one, a getter of its token's secret.
 */
export function passwordGetter(provider: TokenSource & { readonly password?: () => Promise<string> }): () => Promise<string> {
  return provider.password ?? (async () => (await provider.tokenInfo()).secret)
}

/**
 * The role for a driver that takes one `user` for all its connections (Postgres.js, node-postgres
 * through pgOptions), when the caller named none: the provider's configured role, else the one
 * its token names (this may mint the first token now), else the core's INVALID_CONFIG error.
 */
export async function oneUser(provider: TokenSource, helper: string): Promise<string> {
  return provider.username ?? tokenUser(await provider.tokenInfo(), provider, helper)
}
