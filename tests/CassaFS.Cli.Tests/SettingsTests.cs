using CassaFS.Cql;

namespace CassaFS.Cli.Tests;

/// <summary>Connection values layer command line over environment over config file over defaults; -o lists parse as mount(8)'s.</summary>
public sealed class SettingsTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] values) =>
        name => values.FirstOrDefault(v => v.Key == name).Value;

    [Fact]
    public void Command_line_wins_over_environment_which_wins_over_the_config_file()
    {
        var config = Path.GetTempFileName();
        try
        {
            File.WriteAllText(config, """{ "contactPoints": ["10.0.0.1", "10.0.0.2:9000"], "keyspace": "fromfile", "zookeeper": "zk:2181/fs", "lockMode": "lwt", "port": 9999, "consistency": "local_quorum" }""");
            var fromFile = ConnectionSettings.Resolve(new ConnectionValues(), config, Env());
            Assert.Equal(["10.0.0.1", "10.0.0.2:9000"], fromFile.ContactPoints);
            Assert.Equal("10.0.0.1:9999, 10.0.0.2:9000", fromFile.CassandraHosts);
            Assert.Equal("fromfile", fromFile.Keyspace);
            Assert.Equal("lwt", fromFile.LockMode);
            Assert.Equal(Consistency.LocalQuorum, fromFile.Consistency);

            var fromEnv = ConnectionSettings.Resolve(new ConnectionValues(), config, Env(("CASSAFS_KEYSPACE", "fromenv"), ("CASSAFS_LOCK_MODE", "zookeeper")));
            Assert.Equal("fromenv", fromEnv.Keyspace);
            Assert.Equal("zookeeper", fromEnv.LockMode);
            Assert.Equal("zk:2181/fs", fromEnv.ZooKeeper);

            var fromLine = ConnectionSettings.Resolve(new ConnectionValues { Keyspace = "fromline" }, config, Env(("CASSAFS_KEYSPACE", "fromenv")));
            Assert.Equal("fromline", fromLine.Keyspace);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public void Defaults_apply_when_nothing_is_given_and_the_password_never_shows()
    {
        var s = ConnectionSettings.Resolve(new ConnectionValues { User = "alice" }, null, Env(("CASSAFS_PASSWORD", "s3cret")));
        Assert.Equal("127.0.0.1:9042", s.CassandraHosts);
        Assert.Equal("cassafs", s.Keyspace);
        Assert.Equal("zookeeper", s.LockMode);
        Assert.Equal("s3cret", s.Password);
        Assert.DoesNotContain("s3cret", s.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", s.ToSessionOptions().Credentials!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_values_are_usage_errors()
    {
        Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues { LockMode = "paxos" }, null, Env()));
        Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues { Port = "70000" }, null, Env()));
        Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues { Consistency = "most" }, null, Env()));
        Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues(), "/no/such/config.json", Env()));
    }

    [Fact]
    public void Mount_option_lists_set_read_only_timeouts_and_sizes()
    {
        var s = new MountSettings().With(["ro,allow_other,attr_timeout=0.25", "entry_timeout=2,max_write=512K,auto_unmount"]);
        Assert.True(s.ReadOnly);
        Assert.Equal(TimeSpan.FromSeconds(0.25), s.AttributeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), s.EntryTimeout);
        Assert.Equal(512 * 1024, s.MaxWrite);
        var fuse = s.ToFuseOptions("myfs", null);
        Assert.Equal("cassafs:myfs", fuse.FileSystemName);
        Assert.True(fuse.HandleTerminationSignals);
        Assert.Equal(TimeSpan.FromSeconds(1), new MountSettings().AttributeTimeout);
        Assert.Throws<UsageException>(() => new MountSettings().With(["attr_timeout=soon"]));
        Assert.Throws<UsageException>(() => new MountSettings().With(["writeback_cache"]));
    }
}
