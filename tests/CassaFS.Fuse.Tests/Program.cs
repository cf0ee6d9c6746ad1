using System.Globalization;
using CassaFS.Fuse;

namespace CassaFS.Fuse.Tests;

/// <summary>
/// Entry point of the test assembly when run as a mount daemon (dotnet exec CassaFS.Fuse.Tests.dll mount-host DIR),
/// so tests can kill a real separate process. The test runner does not use it.
/// </summary>
public static class Program
{
    public const string HostVerb = "mount-host";
    public const string MountedLine = "MOUNTED";
    public const string UnmountedLine = "UNMOUNTED";

    public const string LockVerb = "posix-lock";

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 5 && args[0] == LockVerb)
        {
            return TryPosixLock(args[1], args[2], long.Parse(args[3], CultureInfo.InvariantCulture), long.Parse(args[4], CultureInfo.InvariantCulture));
        }
        if (args.Length != 2 || args[0] != HostVerb)
        {
            await Console.Error.WriteLineAsync($"usage: {HostVerb} <mount point> | {LockVerb} <file> get|set <start> <length>");
            return 2;
        }
        var fs = new MemoryFileSystem();
        var mount = await FuseMount.MountAsync(args[1], fs, new FuseMountOptions { HandleTerminationSignals = true, Subtype = "memhost", Debug = Environment.GetEnvironmentVariable("CASSAFS_FUSE_DEBUG") == "1" });
        await File.WriteAllTextAsync(Path.Combine(args[1], "hello"), "from host");
        Console.WriteLine(MountedLine);
        int rc = await mount.Completion;
        Console.WriteLine(UnmountedLine);
        return rc == 0 ? 0 : 1;
    }

    /// <summary>
    /// From another process (POSIX locks belong to processes): "get" prints the conflicting lock as
    /// "type start length pid"; "set" takes a write lock without waiting and exits with 0 or the errno.
    /// </summary>
    private static int TryPosixLock(string file, string mode, long start, long length)
    {
        int fd = Posix.Open(file, Posix.O_RDWR, 0);
        if (fd < 0)
        {
            return Posix.Errno;
        }
        var range = new Posix.FlockRange { Type = Posix.F_WRLCK, Whence = 0, Start = start, Length = length };
        if (mode == "get")
        {
            if (Posix.Fcntl(fd, Posix.F_GETLK, ref range) != 0)
            {
                return Posix.Errno;
            }
            Console.WriteLine($"{range.Type} {range.Start} {range.Length} {range.Pid}");
            return 0;
        }
        return Posix.Fcntl(fd, Posix.F_SETLK, ref range) == 0 ? 0 : Posix.Errno;
    }
}
