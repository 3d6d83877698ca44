// Where the examples connect: the standard PG* variables plus PASSMINT_PROVIDER, the provider URL
// (e.g. dsql://<cluster>.dsql.us-east-1.on.aws, rds://<host>?user=app or azure://).
const fs = require('node:fs')

function settings() {
  const url = process.env.PASSMINT_PROVIDER
  if (!url) throw new Error('set PASSMINT_PROVIDER to a provider URL, e.g. azure:// or dsql://<cluster endpoint>')
  return {
    url,
    host: process.env.PGHOST ?? 'localhost',
    port: Number(process.env.PGPORT ?? 5432),
    database: process.env.PGDATABASE ?? 'postgres',
    user: process.env.PGUSER, // when unset: the role the token names
    // Verified TLS; the system roots do for Azure and DSQL, RDS needs the AWS bundle here.
    ssl: { rejectUnauthorized: true, ...(process.env.PGSSLROOTCERT ? { ca: fs.readFileSync(process.env.PGSSLROOTCERT) } : {}) },
  }
}

module.exports = { settings }
