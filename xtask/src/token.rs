//! `cargo xtask token`: development bearer tokens, signed with the committed
//! development key (see `dev/keys/README.md`). Development only.

use anyhow::{Context, bail};
use shop_api::auth::dev;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut subject = None;
    let mut admin = false;
    let mut ttl: i64 = 24 * 3600;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--admin" => admin = true,
            "--ttl" => {
                ttl = it
                    .next()
                    .context("--ttl needs a number of seconds")?
                    .parse()
                    .context("--ttl needs a number of seconds")?;
            }
            s if s.starts_with('-') => bail!("unknown option {s}"),
            s if subject.is_none() => subject = Some(s.to_owned()),
            s => bail!("unexpected argument {s}"),
        }
    }
    let Some(subject) = subject else {
        bail!("usage: cargo xtask token <subject> [--admin] [--ttl SECS]");
    };
    if subject.is_empty() || subject.len() > 255 {
        bail!("the subject must be 1 to 255 characters");
    }
    println!("{}", dev::token(&subject, admin, ttl));
    Ok(())
}
