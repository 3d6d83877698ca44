// Prisma 7 with @prisma/adapter-pg: the adapter's pg pool calls `password` for each new
// connection. (`npm run generate` first: `prisma generate` writes the client.)
const { PrismaClient } = require('@prisma/client')
const { PrismaPg } = require('@prisma/adapter-pg')
const { Provider } = require('passmint')
const { settings } = require('./settings')

async function main() {
  const { url, host, port, database, user, ssl } = settings()
  const provider = new Provider(url)
  const role = user ?? (await provider.tokenInfo()).username
  const prisma = new PrismaClient({ adapter: new PrismaPg({ host, port, database, user: role, password: provider.password, ssl }) })
  try {
    const [row] = await prisma.$queryRawUnsafe('SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
    console.log(JSON.stringify({ driver: 'Prisma', ...row }))
  } finally {
    await prisma.$disconnect()
  }
}

main().catch((e) => {
  console.error(`${e.code ?? e.name}: ${e.message}`)
  process.exitCode = 1
})
