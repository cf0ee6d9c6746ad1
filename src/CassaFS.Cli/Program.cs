using System.CommandLine;

namespace CassaFS.Cli;

internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        var root = new RootCommand("cassafs: a POSIX filesystem on Apache Cassandra, with ZooKeeper locks");
        root.Subcommands.Add(DemoCommand.Create());
        return root.Parse(args).InvokeAsync();
    }
}
