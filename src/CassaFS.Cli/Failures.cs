using CassaFS.Cql;
using CassaFS.Fuse;
using CassaFS.ZooKeeper;

namespace CassaFS.Cli;

/// <summary>What `cassafs` exits with.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Bad command line, option value or config file.</summary>
    public const int Usage = 1;
    /// <summary>Cassandra or ZooKeeper could not be reached.</summary>
    public const int Unreachable = 2;
    /// <summary>The filesystem said no (errno name and message printed).</summary>
    public const int FileSystem = 3;
    /// <summary>Mounting or unmounting failed.</summary>
    public const int MountFailed = 4;
}

/// <summary>The command line or configuration is wrong (exit 1).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A server could not be reached (exit 2); the message names the hosts tried and what to check.</summary>
public sealed class ServersUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Mounting or unmounting failed (exit 4).</summary>
public sealed class MountFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Turns any failure into the message a user reads and the exit code scripts test.</summary>
public static class FailureReport
{
    public static (int ExitCode, string Message) Describe(Exception e) => e switch
    {
        UsageException => (ExitCodes.Usage, e.Message),
        ServersUnreachableException => (ExitCodes.Unreachable, e.Message),
        CqlNoHostAvailableException c => (ExitCodes.Unreachable,
            $"Cassandra is unreachable: {c.Message} Check --contact-points/--port (or CASSAFS_CONTACT_POINTS) and that Cassandra runs."),
        CqlAuthenticationException => (ExitCodes.Unreachable,
            $"Cassandra refused the credentials: {e.Message}. Check --user and the password (CASSAFS_PASSWORD)."),
        ZooKeeperUnreachableException z => (ExitCodes.Unreachable,
            $"ZooKeeper is unreachable (tried {string.Join(", ", z.ServersTried)}): {z.Message} Check --zookeeper (or CASSAFS_ZOOKEEPER), " +
            "that ZooKeeper runs, or choose another --lock-mode."),
        FileSystemException f => (ExitCodes.FileSystem, $"{f.Errno}: {f.Message}"),
        MountFailedException or FuseMountException => (ExitCodes.MountFailed, e.Message),
        CqlException => (ExitCodes.Unreachable, $"Cassandra failed: {e.Message}"),
        ZooKeeperException => (ExitCodes.Unreachable, $"ZooKeeper failed: {e.Message}"),
        _ => (ExitCodes.FileSystem, $"{e.GetType().Name}: {e.Message}"),
    };
}
