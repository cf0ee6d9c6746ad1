namespace CassaFS.Cli.Tests;

/// <summary>Ordinary programs on a mount behave as on a local directory.</summary>
[Collection("mounts")]
public sealed class OrdinaryToolsTests(MountFixture fixture)
{
    /// <summary>Runs in the mount and in a local directory; every line it prints must match.</summary>
    private const string Script = """
        set -e
        chmod 755 .
        echo 'hello' > hello.txt
        cp -a "$TREE" tree
        diff -r "$TREE" tree
        tar cf "$TAR" tree
        mkdir untarred
        tar xf "$TAR" -C untarred
        diff -r tree untarred/tree
        mkdir -p d1/sub && echo x > d1/sub/f && mv d1 d2
        ln hello.txt hard.txt
        ln -s hello.txt soft
        chmod 640 hello.txt
        chown 12:34 hard.txt
        touch -d '2001-02-03 04:05:06' hello.txt
        truncate -s 5G sparse
        mkfifo fifo
        echo '== tree'
        find . -printf '%p %y %m %U %G %n\n' | sort
        echo '== sizes'
        find . -type f -printf '%p %s\n' | sort
        echo '== times'
        find tree untarred hello.txt -type f -printf '%p %T@\n' | sort
        echo '== links'
        readlink soft
        stat -c '%n %h %i' hello.txt hard.txt | awk '{print $1, $2}'
        [ "$(stat -c %i hello.txt)" = "$(stat -c %i hard.txt)" ] && echo 'hard link shares the inode'
        cat soft
        echo '== sparse'
        du -k sparse | cut -f1
        echo '== fifo'
        stat -c '%F' fifo
        """;

    [Fact]
    public async Task Names_that_are_not_utf8_are_refused_with_EILSEQ_never_merged_and_utf8_names_round_trip()
    {
        // Issue 16 §2: k\xff and k\xfe both became "k\uFFFD": writing the second replaced the first, and an O_EXCL create of a
        // name never made failed with EEXIST.
        var dir = Path.Combine(fixture.MountA, "names-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var r = await Cli.ShAsync(dir, """
            for n in "$(printf 'k\377')" "$(printf 'k\376')"; do
              if { echo data > "$n"; } 2>/tmp/cassafs-names.$$; then echo "created"; else echo "refused: $(sed 's/.*: //' /tmp/cassafs-names.$$)"; fi
            done
            ls | wc -l
            for n in 'é-café' '日本語' 'emoji-🙂' "tab$(printf '\t')name" 'k'; do echo "$n" > "$n"; done
            for n in 'é-café' '日本語' 'emoji-🙂' "tab$(printf '\t')name" 'k'; do [ "$(cat "$n")" = "$n" ] || echo "wrong: $n"; done
            mv 'é-café' 'ü-renamed' && cat 'ü-renamed' && rm 'ü-renamed'
            ls | LC_ALL=C sort | od -c | head -1 >/dev/null
            ls | wc -l
            """);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(
            ["refused: Invalid or incomplete multibyte or wide character", "refused: Invalid or incomplete multibyte or wide character", "0", "é-café", "4"],
            r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
    }

    [Fact]
    public async Task Cp_tar_mv_ln_chmod_chown_touch_truncate_find_and_mkfifo_give_the_same_results_as_on_a_local_directory()
    {
        var tree = await SourceTreeAsync();
        var local = Directory.CreateTempSubdirectory("cassafs-local-").FullName;
        var onMount = Path.Combine(fixture.MountA, "tools-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(onMount);
        try
        {
            var expected = (await Cli.ShAsync(local, $"TREE='{tree}' TAR='{local}.tar'; {Script}")).ShouldSucceed("the script on a local directory");
            var actual = (await Cli.ShAsync(onMount, $"TREE='{tree}' TAR='{local}-mount.tar'; {Script}", TimeSpan.FromMinutes(4)))
                .ShouldSucceed("the script on the mount");
            Assert.Contains("hard link shares the inode", actual.Out, StringComparison.Ordinal);
            Assert.Equal(expected.Out, actual.Out);
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }
    }

    /// <summary>Writes, truncates and chowns set-id files as another user, as root, and as their owner; prints each result.</summary>
    private const string SetIdScript = """
        chmod 777 .
        as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
        for m in 4777 2777 6777 2767 2775; do
          for how in append truncate ftruncate; do
            f=f-$m-$how; printf abc > $f; chmod $m $f
            case $how in
              append) as_nobody sh -c "printf x >> $f" ;;
              truncate) as_nobody truncate -s 1 $f ;;
              ftruncate) as_nobody /usr/bin/perl -e 'open(F, "+<", $ARGV[0]) or die; truncate(F, 2) or die' $f ;;
            esac 2>/dev/null && r=ok || r=refused
            echo "$f $r $(stat -c '%a %s' $f)"
          done
        done
        f=root-6777; printf abc > $f; chmod 6777 $f; printf x >> $f; truncate -s 1 $f; echo "$f $(stat -c '%a %s' $f)"
        f=chown-6755; printf abc > $f; chmod 6755 $f; chown 12:34 $f; echo "$f $(stat -c '%a %u %g' $f)"
        f=chgrp-2745; printf abc > $f; chmod 2745 $f; chgrp 34 $f; echo "$f $(stat -c '%a %g' $f)"
        """;

    [Fact]
    public async Task A_non_owners_write_or_truncate_of_a_set_id_file_succeeds_and_clears_the_bits_as_on_a_local_directory()
    {
        // Issue 13 §1: the kernel asked to clear the bits with a SETATTR of the mode as the writer, which the filesystem
        // refused (EPERM, no write followed): 'printf x >> f' as nobody on a 04777 file failed and left -rwsrwxrwx 0.
        var local = Directory.CreateTempSubdirectory("cassafs-setid-").FullName;
        var onMount = Path.Combine(fixture.MountA, "setid-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(onMount);
        try
        {
            var expected = (await Cli.ShAsync(local, SetIdScript)).ShouldSucceed("the set-id script on a local directory");
            Assert.Contains("f-4777-append ok 777 4", expected.Out, StringComparison.Ordinal);
            var actual = (await Cli.ShAsync(onMount, SetIdScript)).ShouldSucceed("the set-id script on the mount");
            Assert.Equal(expected.Out, actual.Out);
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }
    }

    [Fact]
    public async Task Truncate_to_5G_is_sparse_and_df_reports_the_filesystem()
    {
        var r = (await Cli.ShAsync(fixture.MountA, "truncate -s 5G big-sparse && stat -c %s big-sparse && du -k big-sparse | cut -f1 && df -P . | tail -1")).ShouldSucceed("truncate, du, df");
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("5368709120", lines[0]);
        Assert.Equal("0", lines[1]);
        Assert.StartsWith($"cassafs:{fixture.Keyspace} ", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dd_of_random_data_through_the_mount_reads_back_identical_with_cmp()
    {
        // 256 MiB here; the benchmark (suite "mount") writes and compares 1 GiB.
        var local = Path.Combine(Path.GetTempPath(), $"cassafs-dd-{Guid.NewGuid():N}");
        try
        {
            (await Cli.ShAsync(fixture.MountA, $"head -c 268435456 /dev/urandom > '{local}' && dd if='{local}' of=random.bin bs=4M status=none && cmp '{local}' random.bin && echo same",
                TimeSpan.FromMinutes(4))).ShouldSucceed("dd and cmp");
            // Read back through the other mount too: the data is in Cassandra, not only in this daemon.
            var other = await Cli.ShAsync(fixture.MountB, $"cmp '{local}' random.bin && echo same", TimeSpan.FromMinutes(4));
            Assert.Equal("same", other.ShouldSucceed("cmp on the other mount").Out.Trim());
        }
        finally
        {
            File.Delete(local);
        }
    }

    [Fact]
    public async Task Git_init_add_and_commit_work_inside_the_mount()
    {
        var r = await Cli.ShAsync(fixture.MountA, """
            set -e
            git init -q repo && cd repo
            printf 'one\n' > a.txt && mkdir sub && printf 'two\n' > sub/b.txt
            git add -A
            git -c user.name=t -c user.email=t@example.com commit -q -m first
            printf 'three\n' >> a.txt
            git -c user.name=t -c user.email=t@example.com commit -q -am second
            git log --format=%s
            git status --porcelain | wc -l
            git fsck --no-progress 2>&1 | wc -l
            """, TimeSpan.FromMinutes(3));
        if (r.ExitCode != 0)
        {
            // What the mount shows now, and what the daemon logged (uncertain writes and how they settled).
            var now = await Cli.ShAsync(fixture.MountA, "ls -la --full-time repo/.git; stat repo/.git/index.lock repo/.git/config.lock 2>&1");
            Assert.Fail($"git in the mount failed with exit code {r.ExitCode}:\n{r.Out}\n{r.Err}\n.git now:\n{now.Out}{now.Err}\ndaemon A's log:\n{fixture.A.Output}");
        }
        Assert.Equal("second\nfirst\n0\n0\n", r.Out);
    }

    /// <summary>A small real source tree (the repository's src/CassaFS.Locks, without build output).</summary>
    private static async Task<string> SourceTreeAsync()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "CassaFS.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        var target = Directory.CreateTempSubdirectory("cassafs-tree-").FullName;
        (await Cli.ShAsync(Path.Combine(root, "src", "CassaFS.Locks"), $"tar cf - --exclude=bin --exclude=obj . | tar xf - -C '{target}'")).ShouldSucceed("copying the source tree");
        return target;
    }
}
