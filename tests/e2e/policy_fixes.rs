//! False positives fixed in the default policy, under the real library:
//! what is now allowed really runs, and its dangerous neighbours are still
//! refused (the file is still there, the copy was not made).
//!
//! No daemon: the world publishes `policies/standard.yaml` itself, so
//! `ask` would be refused (no one to ask); these cases only allow, watch or
//! deny.

use crate::harness::{World, exists, run, stderr, workspace};
use std::os::unix::fs::PermissionsExt;

fn standard_world(name: &str) -> World {
    let standard = std::fs::read_to_string(workspace().join("policies/standard.yaml"))
        .expect("default policy");
    World::with_policy(name, &standard)
}

#[test]
fn a_filtered_find_delete_in_home_runs_and_a_tree_delete_does_not() {
    let w = standard_world("fix-find");
    let junk_a = w.home.join("a/.DS_Store");
    let junk_b = w.home.join("b/c/.DS_Store");
    let keep = w.home.join("b/c/notes.txt");
    for p in [&junk_a, &junk_b, &keep] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    // Wipes of the tree stay refused; nothing is deleted.
    for wipe in [
        "find ~ -type f -delete",
        "find ~ -mindepth 1 -delete",
        "find ~ ! -name .DS_Store -delete",
        "find ~ -name .DS_Store -o -delete",
    ] {
        let out = run(w.bash(wipe), 30);
        assert!(!out.status.success(), "{wipe} ran: {}", stderr(&out));
        assert!(
            stderr(&out).contains("rampart: blocked"),
            "{wipe}: {}",
            stderr(&out)
        );
        assert!(
            w.home_intact() && exists(&keep) && exists(&junk_a),
            "{wipe} deleted files"
        );
    }
    // The filtered delete runs and removes exactly the matching files.
    let out = run(w.bash("find ~ -name .DS_Store -delete"), 30);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !exists(&junk_a) && !exists(&junk_b),
        "the .DS_Store files are gone"
    );
    assert!(w.home_intact() && exists(&keep), "nothing else was touched");
}

#[test]
fn a_dotenv_backup_runs_and_other_copies_do_not() {
    let w = standard_world("fix-dotenv");
    w.write(".env", "API_KEY=secret\n");
    let out = run(w.bash("cp .env .env.bak"), 30);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(w.marker(".env.bak")).unwrap(),
        "API_KEY=secret\n"
    );
    for (copy, made) in [
        ("cp .env leaked.txt", "leaked.txt"),
        ("mkdir -p out && cp .env .env.bak out/", "out/.env.bak"),
        ("cp .env.bak leaked-bak.txt", "leaked-bak.txt"),
    ] {
        let out = run(w.bash(copy), 30);
        assert!(
            stderr(&out).contains("rampart: blocked"),
            "{copy}: {}",
            stderr(&out)
        );
        assert!(!exists(&w.marker(made)), "{copy} made {made}");
    }
    let out = run(w.bash("cat .env.bak"), 30);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("secret"),
        "printed the backup"
    );
}

#[test]
fn a_kubeconfig_command_wrapped_in_bash_lc_runs_and_reading_it_does_not() {
    let w = standard_world("fix-kube");
    let kube = w.home.join(".kube");
    std::fs::create_dir_all(&kube).unwrap();
    let config = kube.join("config");
    std::fs::write(&config, "token: kube-secret\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    // How Codex runs commands: bash -lc '…'.
    let out = run(w.bash("bash -lc 'chmod 600 ~/.kube/config'"), 30);
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "chmod ran");
    let out = run(w.bash("cp ~/.kube/config ~/.kube/config.bak"), 30);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(exists(&kube.join("config.bak")));
    for read in ["bash -lc 'cat ~/.kube/config'", "cat ~/.kube/config.bak"] {
        let out = run(w.bash(read), 30);
        assert!(
            stderr(&out).contains("rampart: blocked"),
            "{read}: {}",
            stderr(&out)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("kube-secret"),
            "{read} printed the kubeconfig"
        );
    }
    let out = run(w.bash("cp ~/.kube/config stolen"), 30);
    assert!(
        stderr(&out).contains("rampart: blocked"),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&w.marker("stolen")));
}

#[test]
fn a_compound_command_with_a_risky_part_is_watched() {
    let w = standard_world("fix-watch");
    std::fs::create_dir_all(w.work.join("sub")).unwrap();
    let script = w.work.join("sub/run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    // The outer bash execs the inner one: the library decides the whole
    // compound command there.
    let out = run(w.bash("bash -c 'cd sub && chmod +x run.sh'"), 30);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o111 != 0);
    let recs = w.records_for("cd sub && chmod +x run.sh");
    assert!(
        recs.iter().any(|r| r["decision"] == "watch"),
        "the compound command is flagged: {recs:?}"
    );
}
