// A private PostgreSQL server for a node test, made as tests/postgres_server.hpp makes one for the
// C++ tests (and named like it, so a server left by a test that died is removed by the next C++
// one): initdb into /tmp/skein-pg.<pid>.XXXXXX, on a Unix socket in that directory only, fsync
// off, run as the `postgres` user when the test runs as root. SKEIN_PG_BIN names Debian's bin dir.
'use strict';
const { execSync } = require('node:child_process');
const fs = require('node:fs');

function startPostgres() {
  const bin = process.env.SKEIN_PG_BIN;
  if (!bin) throw new Error('set SKEIN_PG_BIN');
  const as = process.getuid() === 0 ? 'runuser -u postgres -- ' : '';
  const dir = fs.mkdtempSync(`/tmp/skein-pg.${process.pid}.`);
  const sh = cmd => execSync(cmd, { stdio: 'inherit', shell: '/bin/bash' });
  if (as) sh(`chown postgres ${dir}`);
  sh(`${as}${bin}/initdb -D ${dir}/data -U skein -A trust --no-sync --no-locale -E UTF8 >${dir}/initdb.log 2>&1`);
  sh(`${as}${bin}/pg_ctl -D ${dir}/data -l ${dir}/server.log -w -o "-k ${dir} -c listen_addresses= -c fsync=off` +
     ` -c full_page_writes=off" start >/dev/null`);
  return {
    url: `postgresql:///postgres?host=${dir}&user=skein`,
    stop() {
      sh(`${as}${bin}/pg_ctl -D ${dir}/data -m immediate -w stop >/dev/null 2>&1 || true`);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startPostgres };
