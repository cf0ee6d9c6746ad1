using System.Globalization;
using System.Security.Cryptography;
using CassaFS;
using CassaFS.Cql;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

// A separate client process for the filesystem's multi-process tests: each run is one more machine mounting the
// filesystem, with its own Cassandra connection and ZooKeeper session.
//   mkdir  <cassandra> <zookeeper> <keyspace> <dir> <trials> <intervalMs>   (reads the start time, Unix ms, from stdin)
//   storm  <cassandra> <zookeeper> <keyspace> <dir> <operations> <seed>
//   crash  <cassandra> <zookeeper> <keyspace> <dir> <seed>      (runs until killed; prints SYNCED lines)
if (args.Length < 5) { Console.Error.WriteLine("usage: mkdir|storm|crash <cassandra> <zookeeper> <keyspace> <dir> ..."); return 2; }
var (command, contact, zkConnect, keyspace, dir) = (args[0], args[1], args[2], args[3], Guid.Parse(args[4]));
var sessionOptions = new CqlSessionOptions();
sessionOptions.ContactPoints.Add(contact);
await using var session = await CqlSession.ConnectAsync(sessionOptions);
// 10 s: short enough that a killed worker's locks expire within the crash test's wait, long enough that a
// machine running the whole suite on two cores does not suspend sessions between pings.
await using var zk = await ZooKeeperClient.ConnectAsync(zkConnect, new ZooKeeperClientOptions { SessionTimeout = TimeSpan.FromSeconds(10) });
await using var fs = await CassaFileSystem.OpenAsync(session, new FileSystemOptions { Keyspace = keyspace, Locks = new ZooKeeperLockProvider(zk) });
var root = Caller.Root;
Console.WriteLine("READY");

switch (command)
{
    case "mkdir":
    {
        var trials = int.Parse(args[5], CultureInfo.InvariantCulture);
        var interval = int.Parse(args[6], CultureInfo.InvariantCulture);
        var start = long.Parse(Console.ReadLine() ?? "0", CultureInfo.InvariantCulture);
        for (var t = 0; t < trials; t++)
        {
            var at = DateTimeOffset.FromUnixTimeMilliseconds(start + (t * interval));
            var wait = at - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            string outcome;
            try { await fs.MkdirAsync(dir, $"race{t}", 0x1ED, root); outcome = "OK"; }
            catch (FileSystemException e) { outcome = e.Errno.ToString(); }
            Console.WriteLine($"{t} {outcome}");
        }
        return 0;
    }
    case "storm":
    {
        // Renames, links, unlinks, creates and removals over a few shared names: every error must be one POSIX allows here.
        var operations = int.Parse(args[5], CultureInfo.InvariantCulture);
        var random = new Random(int.Parse(args[6], CultureInfo.InvariantCulture));
        var subdirs = new[] { "d0", "d1", "d2" };
        var expected = new HashSet<Errno> { Errno.ENOENT, Errno.EEXIST, Errno.ENOTEMPTY, Errno.EISDIR, Errno.ENOTDIR, Errno.EINVAL, Errno.EPERM };
        async Task<Guid> Dir(string name)
        {
            try { return (await fs.LookupAsync(dir, name, root)).Id; }
            catch (FileSystemException) { return dir; }
        }
        string Name() => $"n{random.Next(6)}";
        var done = 0;
        for (var i = 0; i < operations; i++)
        {
            var (x, y) = (subdirs[random.Next(3)], subdirs[random.Next(3)]);
            var a = await Dir(x);
            var b = await Dir(y);
            var (kind, n1, n2) = (random.Next(7), Name(), Name());
            var (z, w) = (subdirs[random.Next(3)], subdirs[random.Next(3)]);
            // A worker that stalls is reported with its last lines: say what it does next.
            Console.WriteLine(kind == 6 ? $"OP {i} rename {z} into {x} as {w}" : $"OP {i} {"mknod mkdir rename link unlink rmdir".Split(' ')[kind]} {x}/{n1} {y}/{n2}");
            try
            {
                switch (kind)
                {
                    case 0: await fs.MknodAsync(a, n1, FileType.Regular, 0x1A4, 0, root); break;
                    case 1: await fs.MkdirAsync(a, n1, 0x1ED, root); break;
                    case 2: await fs.RenameAsync(a, n1, b, n2, RenameFlags.None, root); break;
                    case 3: await fs.LinkAsync((await fs.LookupAsync(a, n1, root)).Id, b, n2, root); break;
                    case 4: await fs.UnlinkAsync(a, n1, root); break;
                    case 5: await fs.RmdirAsync(a, n1, root); break;
                    case 6: await fs.RenameAsync(dir, z, a, w, RenameFlags.None, root); break;
                }
                done++;
            }
            catch (FileSystemException e) when (expected.Contains(e.Errno))
            {
            }
        }
        Console.WriteLine($"DONE {done}");
        return 0;
    }
    case "crash":
    {
        // Writes files, fsyncs them and publishes each under a final name by rename, while renaming and unlinking
        // scratch entries around them, until the test kills it. Every SYNCED line is a promise fsck must keep.
        var random = new Random(int.Parse(args[5], CultureInfo.InvariantCulture));
        var scratch = await fs.MkdirAsync(dir, $"scratch-{Environment.ProcessId}", 0x1ED, root);
        for (var n = 0; ; n++)
        {
            var data = RandomNumberGenerator.GetBytes(random.Next(1, fs.BlockSize * 3));
            var temp = $"tmp{n}";
            var (handle, _) = await fs.CreateAsync(scratch.Id, temp, 0x1A4, OpenFlags.WriteOnly, root);
            for (var offset = 0; offset < data.Length; offset += 10_000)
                await fs.WriteAsync(handle, offset, data.AsMemory(offset, Math.Min(10_000, data.Length - offset)));
            await fs.FsyncAsync(handle);
            await fs.ReleaseAsync(handle);
            var final = $"done-{Environment.ProcessId}-{n}";
            await fs.RenameAsync(scratch.Id, temp, dir, final, RenameFlags.NoReplace, root);
            Console.WriteLine($"SYNCED {final} {Convert.ToHexString(SHA256.HashData(data))}");
            await fs.MknodAsync(scratch.Id, $"junk{n}", FileType.Regular, 0x1A4, 0, root);
            if (n > 0) await fs.UnlinkAsync(scratch.Id, $"junk{n - 1}", root);
            await fs.MkdirAsync(scratch.Id, $"sub{n}", 0x1ED, root);
            await fs.RenameAsync(scratch.Id, $"sub{n}", scratch.Id, $"moved{n}", RenameFlags.None, root);
            await fs.RmdirAsync(scratch.Id, $"moved{n}", root);
        }
    }
    default:
        Console.Error.WriteLine($"unknown command {command}");
        return 2;
}
