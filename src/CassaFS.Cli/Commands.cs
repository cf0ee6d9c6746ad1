using System.CommandLine;
using System.Globalization;
using CassaFS.Client;

namespace CassaFS.Cli;

/// <summary>`cassafs format`: creates a filesystem in a keyspace.</summary>
internal static class FormatCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var replication = new Option<int>("--replication-factor") { Description = "Replicas of every row (SimpleStrategy)", DefaultValueFactory = _ => 1 };
        var blockSize = new Option<int>("--block-size") { Description = "Bytes per data block", DefaultValueFactory = _ => FormatOptions.DefaultBlockSize };
        var force = new Option<bool>("--force") { Description = "Replace an existing filesystem in the keyspace (its data is lost)" };
        var command = new Command("format", "Create an empty filesystem in the keyspace") { replication, blockSize, force };
        command.SetAction(Program.Guarded(async (r, ct) =>
        {
            var settings = connection.Resolve(r);
            await using var servers = await ServerConnection.OpenAsync(settings, needLocks: false, ct: ct).ConfigureAwait(false);
            Console.Error.WriteLine($"formatting keyspace {settings.Keyspace} on {ConnectionSettings.Hosts(settings)} ...");
            try
            {
                await servers.FormatAsync(new FormatOptions
                {
                    Keyspace = settings.Keyspace,
                    ReplicationFactor = r.GetValue(replication),
                    BlockSize = r.GetValue(blockSize),
                    Force = r.GetValue(force),
                }, ct).ConfigureAwait(false);
            }
            catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
            {
                throw new FileSystemException(Errno.EEXIST, e.Subject, $"{e.Detail} (pass --force)", e);
            }
            Console.WriteLine($"formatted {settings.Keyspace} (block size {r.GetValue(blockSize)} bytes, replication factor {r.GetValue(replication)})");
            return ExitCodes.Ok;
        }));
        return command;
    }
}

/// <summary>`cassafs mount`: serves a filesystem on a directory (foreground, or --background as a daemon).</summary>
internal static class MountCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var mountPoint = new Argument<string>("mountpoint") { Description = "An existing empty directory" };
        var options = new Option<string[]>("-o") { Description = "Mount options: ro, allow_other, default_permissions, auto_unmount, attr_timeout=S, entry_timeout=S, max_write=N, max_read=N, max_threads=N, soft (default), hard, timeout=S (soft bound, 30), debug", AllowMultipleArgumentsPerToken = false };
        var background = new Option<bool>("--background", "-b") { Description = "Detach once mounted (the daemon logs to the state directory)" };
        var foreground = new Option<bool>("--foreground", "-f") { Description = "Stay in the foreground until unmounted (the default)" };
        var command = new Command("mount", "Mount a filesystem on a directory; prints 'MOUNTED <mountpoint>' once the mount answers") { mountPoint, options, background, foreground };
        command.SetAction(Program.Guarded(async (r, ct) =>
        {
            var settings = connection.Resolve(r);
            var mount = new MountSettings().With(r.GetValue(options) ?? []);
            var path = r.GetValue(mountPoint)!;
            if (r.GetValue(background) && !r.GetValue(foreground))
                return await MountDaemon.StartDetachedAsync(path, Environment.GetCommandLineArgs()[1..], ct).ConfigureAwait(false);
            return await MountDaemon.RunAsync(path, settings, mount, ct).ConfigureAwait(false);
        }));
        return command;
    }
}

/// <summary>`cassafs umount`.</summary>
internal static class UmountCommand
{
    public static Command Create()
    {
        var mountPoint = new Argument<string>("mountpoint");
        var lazy = new Option<bool>("--lazy", "-l") { Description = "Detach now even if files are open (fusermount3 -u -z)" };
        var command = new Command("umount", "Unmount a CassaFS mount and wait for its daemon to flush and exit") { mountPoint, lazy };
        command.SetAction(Program.Guarded(async (r, ct) =>
        {
            await MountDaemon.UnmountAsync(r.GetValue(mountPoint)!, r.GetValue(lazy), new MountRegistry(), ct).ConfigureAwait(false);
            Console.WriteLine($"unmounted {Path.GetFullPath(r.GetValue(mountPoint)!)}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}

/// <summary>`cassafs destroy`: removes a filesystem and all its data (asks for the keyspace's name unless --force).</summary>
internal static class DestroyCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var force = new Option<bool>("--force") { Description = "Do not ask: destroy at once (for scripts)" };
        var command = new Command("destroy", "Remove a filesystem: drop its keyspace with every file in it (asks first)") { force };
        command.SetAction(Program.Guarded(async (r, ct) =>
        {
            var settings = connection.Resolve(r);
            var mounted = new MountRegistry().List().Where(m => m.Mounted && string.Equals(m.State?.Keyspace, settings.Keyspace, StringComparison.OrdinalIgnoreCase)).ToList();
            if (mounted.Count > 0)
                throw new UsageException($"{settings.Keyspace} is mounted here on {string.Join(", ", mounted.Select(m => m.MountPoint))}; unmount it first (cassafs umount <dir>)");
            if (!r.GetValue(force))
            {
                if (Console.IsInputRedirected)
                    throw new UsageException($"destroying {settings.Keyspace} needs confirmation: run it at a terminal, or pass --force");
                Console.Error.Write($"This deletes filesystem {settings.Keyspace} on {ConnectionSettings.Hosts(settings)} and every file in it. Type its name to confirm: ");
                if (!string.Equals(Console.ReadLine()?.Trim(), settings.Keyspace, StringComparison.Ordinal))
                {
                    Console.Error.WriteLine("not confirmed; nothing was removed");
                    return ExitCodes.Usage;
                }
            }
            await using var servers = await ServerConnection.OpenAsync(settings, needLocks: false, ct: ct).ConfigureAwait(false);
            await servers.DestroyAsync(ct).ConfigureAwait(false);
            Console.WriteLine($"destroyed {settings.Keyspace}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}

/// <summary>`cassafs status`.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("status", "List CassaFS mounts on this machine and the filesystems they serve") { json };
        command.SetAction(Program.Guarded((r, _) =>
        {
            var mounts = new MountRegistry().List();
            if (r.GetValue(json))
            {
                Console.WriteLine(MountStatus.ToJson(mounts));
                return Task.FromResult(ExitCodes.Ok);
            }
            if (mounts.Count == 0) Console.WriteLine("no CassaFS mounts");
            foreach (var m in mounts)
            {
                var state = m.State;
                var health = !m.Mounted ? "STALE (not mounted; state file left behind)" : m.DaemonAlive ? "mounted" : "mounted, daemon not found";
                Console.WriteLine($"{m.MountPoint}  {health}");
                if (state is not null)
                {
                    Console.WriteLine($"    keyspace {state.Keyspace}, cassandra {state.Cassandra}, locks {state.LockMode}" +
                                      (state.ZooKeeper is null ? "" : $" ({state.ZooKeeper})") + $", pid {state.Pid}, since {state.Since:u}{(state.ReadOnly ? ", read-only" : "")}");
                }
                else
                {
                    Console.WriteLine($"    source {m.Source} (no state file)");
                }
            }
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }
}

/// <summary>`cassafs fsck`.</summary>
internal static class FsckCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var repair = new Option<bool>("--repair") { Description = "Repair what is found (default: report only)" };
        var grace = new Option<int>("--grace") { Description = "Seconds an unreferenced inode is spared (it may be a create in flight)", DefaultValueFactory = _ => 300 };
        var command = new Command("fsck", "Check the filesystem (and repair with --repair); exit 0 when clean, 3 when problems remain") { repair, grace };
        command.SetAction(Program.Guarded(async (r, ct) =>
        {
            await using var servers = await ServerConnection.OpenAsync(connection.Resolve(r), ct: ct).ConfigureAwait(false);
            await using var fs = await servers.OpenFileSystemAsync(ct: ct).ConfigureAwait(false);
            var report = await Fsck.RunAsync(fs, new FsckOptions
            {
                Repair = r.GetValue(repair),
                Grace = TimeSpan.FromSeconds(r.GetValue(grace)),
                Progress = p => Console.Error.WriteLine($"[fsck] {p}"),
            }, ct).ConfigureAwait(false);
            foreach (var p in report.Problems) Console.WriteLine($"{p.Kind}: {p.Description}{(p.Repaired ? " [repaired]" : "")}");
            Console.WriteLine($"{report.Inodes} inodes, {report.Entries} entries, {report.BlockOwners} files with blocks; {report.Problems.Count} problems");
            return report.Problems.All(p => p.Repaired) ? ExitCodes.Ok : ExitCodes.FileSystem;
        }));
        return command;
    }
}

/// <summary>`cassafs locks list|break`.</summary>
internal static class LocksCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var prefix = new Option<string?>("--prefix") { Description = "Only keys starting with this (inode/, open/, advisory/, advisory/posix- ...)" };
        var list = new Command("list", "List the locks held and waited for, with holders") { prefix };
        list.SetAction(Program.Guarded(async (r, ct) =>
        {
            await using var servers = await ServerConnection.OpenAsync(connection.Resolve(r), ct: ct).ConfigureAwait(false);
            var n = await LockListing.WriteAsync(servers.Locks, r.GetValue(prefix), Console.Out, ct).ConfigureAwait(false);
            if (n == 0) Console.WriteLine("no locks held");
            return ExitCodes.Ok;
        }));
        var key = new Argument<string>("key") { Description = "The lock key as listed (inode/..., advisory/...)" };
        var participant = new Argument<string>("participant") { Description = "The holder's id as listed" };
        var reason = new Option<string>("--reason") { Description = "Why (recorded with the break)", DefaultValueFactory = _ => "broken by an operator with cassafs locks break" };
        var breakCommand = new Command("break", "Break a holder's lock (it learns it lost the lock)") { key, participant, reason };
        breakCommand.SetAction(Program.Guarded(async (r, ct) =>
        {
            LockKeyText(r.GetValue(key)!, out var lockKey);
            await using var servers = await ServerConnection.OpenAsync(connection.Resolve(r), ct: ct).ConfigureAwait(false);
            var broken = await servers.Locks.BreakAsync(lockKey, r.GetValue(participant)!, $"{r.GetValue(reason)} ({Environment.UserName}@{Environment.MachineName})", ct).ConfigureAwait(false);
            Console.WriteLine(broken ? $"broke {r.GetValue(participant)} on {lockKey}" : $"{r.GetValue(participant)} no longer held {lockKey}");
            return ExitCodes.Ok;
        }));
        return new Command("locks", "List or break locks") { list, breakCommand };
    }

    private static void LockKeyText(string text, out Locks.LockKey key)
    {
        try
        {
            key = Locks.LockKey.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }
}

/// <summary>`cassafs stat`.</summary>
internal static class StatCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var path = new Argument<string>("path") { Description = "A path inside the filesystem (/dir/file)" };
        var command = new Command("stat", "Show an inode's attributes, by path inside the filesystem") { path };
        command.SetAction(Program.Guarded(async (r, ct) =>
        {
            await using var servers = await ServerConnection.OpenAsync(connection.Resolve(r), ct: ct).ConfigureAwait(false);
            await using var fs = await servers.OpenFileSystemAsync(readOnly: true, ct: ct).ConfigureAwait(false);
            var inode = await fs.ResolveAsync(r.GetValue(path)!, Caller.Root, followLast: false, ct).ConfigureAwait(false);
            Console.WriteLine(InodeText.Describe(r.GetValue(path)!, inode, fs.BlockSize));
            return ExitCodes.Ok;
        }));
        return command;
    }
}

/// <summary>An inode as `cassafs stat` prints it.</summary>
public static class InodeText
{
    public static string Describe(string path, Inode inode, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(inode);
        var c = CultureInfo.InvariantCulture;
        return string.Join('\n',
            $"  File: {path}{(inode.Target is null ? "" : $" -> {inode.Target}")}",
            $"  Type: {inode.Type}  Mode: {Convert.ToString(inode.Mode, 8).PadLeft(4, '0')}  Uid: {inode.Uid}  Gid: {inode.Gid}  Links: {inode.Nlink}",
            string.Create(c, $"  Size: {inode.Size}  Blocks stored: {inode.Blocks} (block size {blockSize})  Generation: {inode.Generation}"),
            $" Inode: {inode.Id}{(inode.IsDirectory ? $"  Parent: {inode.Parent}" : "")}",
            $"Access: {inode.Atime}",
            $"Modify: {inode.Mtime}",
            $"Change: {inode.Ctime}");
    }
}

/// <summary>`cassafs bench`.</summary>
internal static class BenchCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var size = new Option<int>("--size-mib") { Description = "MiB to write and read sequentially", DefaultValueFactory = _ => 256 };
        var files = new Option<int>("--files") { Description = "Files to create, stat and remove", DefaultValueFactory = _ => 1000 };
        var path = new Option<string?>("--path") { Description = "Measure through this directory (e.g. inside a mount) instead of the library" };
        var command = new Command("bench", "Measure sequential throughput and metadata rates (library-level, or through a mounted directory with --path)") { size, files, path };
        command.SetAction(Program.Guarded(async (r, ct) =>
        {
            if (r.GetValue(path) is { } dir)
            {
                await Throughput.DirectoryAsync(dir, r.GetValue(size), r.GetValue(files), Console.Out, ct).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            await using var servers = await ServerConnection.OpenAsync(connection.Resolve(r), ct: ct).ConfigureAwait(false);
            await using var fs = await servers.OpenFileSystemAsync(ct: ct).ConfigureAwait(false);
            await Throughput.LibraryAsync(fs, r.GetValue(size), r.GetValue(files), Console.Out, ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
