/**
 * What the driver helpers (Sequelize, Postgres.js) share besides TLS: what they need of a
 * provider, and whose role a connection logs in as. Mirrors the Python package's
 * `passmint/_helpers.py`.
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
