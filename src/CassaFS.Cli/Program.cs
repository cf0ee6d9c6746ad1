using System.CommandLine;
using CassaFS.Client;

namespace CassaFS.Cli;

internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        var connection = new ConnectionOptions();
        var root = new RootCommand("cassafs: a POSIX filesystem on Apache Cassandra, with ZooKeeper locks. Exit codes: 0 ok, 1 usage, " +
                                   "2 servers unreachable, 3 filesystem error, 4 mount failed.");
        connection.AddTo(root);
        root.Subcommands.Add(FormatCommand.Create(connection));
        root.Subcommands.Add(DestroyCommand.Create(connection));
        root.Subcommands.Add(MountCommand.Create(connection));
        root.Subcommands.Add(UmountCommand.Create());
        root.Subcommands.Add(StatusCommand.Create());
        root.Subcommands.Add(FsckCommand.Create(connection));
        root.Subcommands.Add(LocksCommand.Create(connection));
        root.Subcommands.Add(StatCommand.Create(connection));
        root.Subcommands.Add(BenchCommand.Create(connection));
        root.Subcommands.Add(DemoCommand.Create());
        // The mount daemon handles SIGTERM/SIGINT itself (clean unmount, then flush); the parser's own handling would
        // kill the process after a grace period instead.
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>Runs a command body, turning failures into a message on stderr and a meaningful exit code.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Guarded(Func<ParseResult, CancellationToken, Task<int>> body) => async (result, ct) =>
    {
        try
        {
            return await body(result, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("cassafs: cancelled").ConfigureAwait(false);
            return 130;
        }
#pragma warning disable CA1031 // Every failure becomes a message and an exit code.
        catch (Exception e)
#pragma warning restore CA1031
        {
            var (code, message) = FailureReport.Describe(e);
            await Console.Error.WriteLineAsync($"cassafs: {message}").ConfigureAwait(false);
            return code;
        }
    };
}

/// <summary>The connection options every command that talks to servers takes (recursive on the root command).</summary>
internal sealed class ConnectionOptions
{
    public Option<string?> ContactPoints { get; } = new("--contact-points") { Description = "Cassandra contact points, comma separated (host or host:port). Env CASSAFS_CONTACT_POINTS. Default 127.0.0.1", Recursive = true };
    public Option<string?> Port { get; } = new("--port") { Description = "Cassandra native port for contact points without one. Env CASSAFS_PORT. Default 9042", Recursive = true };
    public Option<string?> Keyspace { get; } = new("--keyspace", "-k") { Description = "The filesystem's keyspace. Env CASSAFS_KEYSPACE. Default cassafs", Recursive = true };
    public Option<string?> ZooKeeper { get; } = new("--zookeeper", "-z") { Description = "ZooKeeper connect string, chroot allowed (h:2181,h2:2181/cassafs). Env CASSAFS_ZOOKEEPER. Default 127.0.0.1:2181", Recursive = true };
    public Option<string?> User { get; } = new("--user") { Description = "Cassandra user (PasswordAuthenticator). Env CASSAFS_USER", Recursive = true };
    public Option<string?> Password { get; } = new("--password") { Description = "Cassandra password; prefer env CASSAFS_PASSWORD (never logged)", Recursive = true };
    public Option<string?> Consistency { get; } = new("--consistency") { Description = "Consistency level of reads and writes (one, quorum, local_quorum, all ...). Env CASSAFS_CONSISTENCY. Default quorum", Recursive = true };
    public Option<string?> LockMode { get; } = new("--lock-mode") { Description = "Lock service: zookeeper, lwt (Cassandra lightweight transactions), bakery, local (one client only). Env CASSAFS_LOCK_MODE. Default zookeeper", Recursive = true };
    public Option<string?> Config { get; } = new("--config") { Description = "JSON config file with contactPoints, port, keyspace, zookeeper, user, password, consistency, lockMode. Env CASSAFS_CONFIG", Recursive = true };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { ContactPoints, Port, Keyspace, ZooKeeper, User, Password, Consistency, LockMode, Config }) command.Options.Add(o);
    }

    public ClientSettings Resolve(ParseResult r) => ConnectionSettings.Resolve(new ConnectionValues
    {
        ContactPoints = r.GetValue(ContactPoints),
        Port = r.GetValue(Port),
        Keyspace = r.GetValue(Keyspace),
        ZooKeeper = r.GetValue(ZooKeeper),
        User = r.GetValue(User),
        Password = r.GetValue(Password),
        Consistency = r.GetValue(Consistency),
        LockMode = r.GetValue(LockMode),
    }, r.GetValue(Config) ?? Environment.GetEnvironmentVariable("CASSAFS_CONFIG"), Environment.GetEnvironmentVariable);
}
