using System.CommandLine;
using System.Diagnostics;
using CassaFS.Client;
using CassaFS.LocalServers;

namespace CassaFS.Cli;

/// <summary>`cassafs demo`: local servers up, format, mount, ordinary tools on the mount, the locks of a write in flight, unmount.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "Start a local Cassandra and ZooKeeper, format a filesystem, mount it, use it with ordinary tools, show its locks, unmount, stop");
        command.SetAction(Program.Guarded(async (_, ct) => await new Demo(Console.Out).RunAsync(ct).ConfigureAwait(false)));
        return command;
    }
}

/// <summary>The demo's script, step by step (kept out of the command class so it reads top to bottom).</summary>
public sealed class Demo(TextWriter output)
{
    private void Say(string message) => output.WriteLine($"[demo] {message}");

    public async Task<int> RunAsync(CancellationToken ct)
    {
        Say("1. checking prerequisites (FUSE 3) and starting a local Cassandra and ZooKeeper");
        await Prerequisites.EnsureFuseAsync(Say, ct).ConfigureAwait(false);
        await using var run = await LocalRun.CreateAsync("demo", Say, ct).ConfigureAwait(false);
        var cassandraStarting = run.StartCassandraAsync(ct: ct);
        var zooKeeper = await run.StartZooKeeperAsync(ct: ct).ConfigureAwait(false);
        var cassandra = await cassandraStarting.ConfigureAwait(false);
        var settings = new ClientSettings
        {
            ContactPoints = [cassandra.ContactPoint],
            Keyspace = "cassafs_demo",
            ZooKeeper = zooKeeper.ConnectString + "/cassafs-demo",
            Consistency = Cql.Consistency.One,
        };
        Say($"   Cassandra {cassandra.ContactPoint}, ZooKeeper {zooKeeper.ConnectString}");

        Say($"2. formatting keyspace {settings.Keyspace}  (cassafs format --contact-points {cassandra.ContactPoint} -k {settings.Keyspace})");
        await using (var servers = await ServerConnection.OpenAsync(settings, needLocks: false, ct: ct).ConfigureAwait(false))
        {
            await servers.FormatAsync(new FormatOptions { Keyspace = settings.Keyspace, Force = true }, ct).ConfigureAwait(false);
        }

        var mountPoint = Directory.CreateTempSubdirectory("cassafs-demo-").FullName;
        var registry = new MountRegistry(Path.Combine(Path.GetTempPath(), "cassafs-demo-state"));
        Say($"3. mounting it on {mountPoint}  (cassafs mount {mountPoint} ...)");
        var mount = await CassaMount.StartAsync(mountPoint, settings, new MountSettings(), registry, Say, ct).ConfigureAwait(false);
        string? tree = null;
        try
        {
            Say($"   {MountDaemon.MountedLine} {mount.MountPoint}");
            tree = PrepareSourceTree();
            Say("4. ordinary tools on the mount");
            await ShellAsync(mountPoint, "echo 'hello from CassaFS' > hello.txt && cat hello.txt", ct).ConfigureAwait(false);
            await ShellAsync(mountPoint, $"cp -a {Quote(tree)} src && diff -r {Quote(tree)} src && echo 'cp -a: the copy is identical (diff -r clean)'; find src -type f | wc -l", ct).ConfigureAwait(false);
            await ShellAsync(mountPoint, "ln hello.txt hello-hard.txt && ln -s hello.txt hello-soft && mv src source && mkdir -p a/b && mv a/b a/c", ct).ConfigureAwait(false);
            await ShellAsync(mountPoint, "ls -li && cat hello-soft && stat -c '%n: %h links' hello.txt", ct).ConfigureAwait(false);
            await ShellAsync(mountPoint, "df -h .", ct).ConfigureAwait(false);

            Say("5. the locks held while a write is in flight (a 256 MiB dd, and a flock held by another program)");
            using var dd = StartShell(mountPoint, "dd if=/dev/urandom of=big.bin bs=1M count=256 status=none");
            using var flock = StartShell(mountPoint, "flock -x hello.txt sleep 4");
            await Task.Delay(TimeSpan.FromSeconds(1.5), ct).ConfigureAwait(false);
            Say("   $ cassafs locks list");
            var listed = await LockListing.WriteAsync(mount.Connection.Locks, null, output, ct).ConfigureAwait(false);
            if (listed == 0) Say("   (no lock held at that instant)");
            await dd.WaitForExitAsync(ct).ConfigureAwait(false);
            await flock.WaitForExitAsync(ct).ConfigureAwait(false);
            await ShellAsync(mountPoint, "ls -l big.bin && du -h big.bin", ct).ConfigureAwait(false);
            Say("   $ cassafs status");
            foreach (var m in registry.List())
                Say(m.State is { } state
                    ? $"   {m.MountPoint}: keyspace {state.Keyspace}, cassandra {state.Cassandra}, locks {state.LockMode}, pid {state.Pid}"
                    : $"   {m.MountPoint}: source {m.Source} (no state file here: mounted with another state directory)");
        }
        finally
        {
            Say($"6. unmounting {mountPoint}  (cassafs umount {mountPoint})");
            await mount.UnmountAsync().ConfigureAwait(false);
            try
            {
                Directory.Delete(mountPoint);
                if (tree is not null) Directory.Delete(Path.GetDirectoryName(tree)!, recursive: true);
                if (!Directory.EnumerateFileSystemEntries(registry.Directory).Any()) Directory.Delete(registry.Directory);
            }
            catch (IOException)
            {
            }
        }
        Say("7. stopping the servers. Done.");
        return ExitCodes.Ok;
    }

    /// <summary>The repository's src/ without build output (or /usr/share/doc/fuse3 when not run from a clone).</summary>
    private string PrepareSourceTree()
    {
        var root = AppContext.BaseDirectory;
        while (root.Length > 1 && !File.Exists(Path.Combine(root, "CassaFS.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/')) ?? "/";
        var src = Path.Combine(root, "src");
        if (!Directory.Exists(src)) src = Directory.Exists("/usr/share/doc/fuse3") ? "/usr/share/doc/fuse3" : "/etc/default";
        var target = Path.Combine(Directory.CreateTempSubdirectory("cassafs-demo-tree-").FullName, "src");
        Directory.CreateDirectory(target);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"cd {Quote(src)} && tar cf - --exclude=bin --exclude=obj . | tar xf - -C {Quote(target)}");
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        Say($"   a tree to copy: {src} without bin/ and obj/ -> {target}");
        return target;
    }

    private async Task ShellAsync(string directory, string command, CancellationToken ct)
    {
        output.WriteLine($"   $ {command}");
        using var p = StartShell(directory, command, capture: true);
        var text = await p.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
        var err = await p.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        foreach (var line in (text + err).Split('\n', StringSplitOptions.RemoveEmptyEntries)) output.WriteLine($"     {line}");
        if (p.ExitCode != 0) throw new InvalidOperationException($"the demo step '{command}' failed with exit code {p.ExitCode}");
    }

    private static Process StartShell(string directory, string command, bool capture = false)
    {
        var psi = new ProcessStartInfo("/bin/sh") { WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = capture, RedirectStandardError = capture };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        return Process.Start(psi)!;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
