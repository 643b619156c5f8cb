//! A throwaway PostgreSQL cluster: initdb in a temp dir (as the `postgres` user when we are
//! root), a free port on 127.0.0.1, fsync off. Dropping it stops the server and removes the dir,
//! whatever happened in between.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{Result, sh};

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    pub fn start() -> Result<Self> {
        let bin = pg_bin()?;
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let dir = PathBuf::from(format!("/tmp/callplat-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        if as_postgres {
            sh(Command::new("chown").args(["postgres:postgres"]).arg(&dir))?;
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let cluster = Cluster { dir, bin, port, as_postgres };
        let data = cluster.dir.join("data");
        cluster.pg(&format!(
            "{} -D {} -A trust -U postgres -E UTF8 --no-instructions > {}/initdb.log 2>&1",
            cluster.bin.join("initdb").display(),
            data.display(),
            cluster.dir.display()
        ))?;
        cluster.pg(&format!(
            "{} -D {} -l {}/server.log -w -t 60 -o '-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' start > /dev/null",
            cluster.bin.join("pg_ctl").display(),
            data.display(),
            cluster.dir.display(),
            port,
            cluster.dir.display()
        ))?;
        println!("    PostgreSQL on 127.0.0.1:{port}, data in {}", cluster.dir.display());
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg(&self, script: &str) -> Result<()> {
        if self.as_postgres {
            sh(Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", script]))
        } else {
            sh(Command::new("sh").args(["-c", script]))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg(&format!(
            "{} -D {} -m fast -w stop > /dev/null 2>&1",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display()
        ));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_bin() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "PostgreSQL is not installed (/usr/lib/postgresql is missing)".to_string())?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| Path::new(p).join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop().ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".into())
}
