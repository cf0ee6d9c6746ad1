using CassaFS.Client;
using CassaFS.Cql;

namespace CassaFS.Cli.Tests;

/// <summary>Connection values layer command line over environment over config file over defaults; -o lists parse as mount(8)'s.</summary>
public sealed class SettingsTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] values) =>
        name => values.FirstOrDefault(v => v.Key == name).Value;

    [Fact]
    public void The_bakery_participant_is_a_setting_and_every_face_connects_with_one_settings_record()
    {
        // The CLI resolves its flags, environment and config file straight into the record FileSystemClient takes.
        ClientSettings client = ConnectionSettings.Resolve(new ConnectionValues { LockMode = "BAKERY" }, null, Env(("CASSAFS_BAKERY_PARTICIPANT", "3"), ("CASSAFS_BAKERY_PARTICIPANTS", "5")));
        Assert.Equal((LockMode.Bakery, 3, 5), (client.LockMode, client.BakeryParticipant, client.BakeryParticipants));
        Assert.Null(ConnectionSettings.Resolve(new ConnectionValues(), null, Env()).BakeryParticipant);
        Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues(), null, Env(("CASSAFS_BAKERY_PARTICIPANT", "x"))));
        Assert.Throws<ArgumentException>(() => ClientSettings.ParseLockMode("paxos"));
    }

    [Fact]
    public void Command_line_wins_over_environment_which_wins_over_the_config_file()
    {
        var config = Path.GetTempFileName();
        try
        {
            File.WriteAllText(config, """{ "contactPoints": ["10.0.0.1", "10.0.0.2:9000"], "keyspace": "fromfile", "zookeeper": "zk:2181/fs", "lockMode": "lwt", "port": 9999, "consistency": "local_quorum" }""");
            var fromFile = ConnectionSettings.Resolve(new ConnectionValues(), config, Env());
            Assert.Equal(["10.0.0.1", "10.0.0.2:9000"], fromFile.ContactPoints);
            Assert.Equal("10.0.0.1:9999, 10.0.0.2:9000", ConnectionSettings.Hosts(fromFile));
            Assert.Equal("fromfile", fromFile.Keyspace);
            Assert.Equal(LockMode.Lwt, fromFile.LockMode);
            Assert.Equal(Consistency.LocalQuorum, fromFile.Consistency);

            var fromEnv = ConnectionSettings.Resolve(new ConnectionValues(), config, Env(("CASSAFS_KEYSPACE", "fromenv"), ("CASSAFS_LOCK_MODE", "zookeeper")));
            Assert.Equal("fromenv", fromEnv.Keyspace);
            Assert.Equal(LockMode.ZooKeeper, fromEnv.LockMode);
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
        Assert.Equal("127.0.0.1:9042", ConnectionSettings.Hosts(s));
        Assert.Equal("cassafs", s.Keyspace);
        Assert.Equal(LockMode.ZooKeeper, s.LockMode);
        Assert.Equal("s3cret", s.Password);
        Assert.DoesNotContain("s3cret", ConnectionSettings.Describe(s), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", s.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""["10.0.0.1"]""", "must be an object")]
    [InlineData("""{ "contactPoints": 5 }""", "contactPoints must be a string or an array of strings, not 5")]
    [InlineData("""{ "contactPoints": ["a", 7] }""", "each of contactPoints must be a string")]
    [InlineData("""{ "keyspace": "fs", "consistncy": "one" }""", "unknown key 'consistncy'; the keys are contactPoints, port, keyspace, zookeeper, user, password, consistency, lockMode")]
    [InlineData("""{ "port": true }""", "port must be a string or a number, not true")]
    public async Task A_config_file_that_is_not_an_object_of_known_keys_exits_1_naming_what_is_wrong(string json, string message)
    {
        // Issue 16 §5: an array exited 3 with InvalidOperationException text; a number became host 0.0.0.5; a misspelt key was ignored.
        var config = Path.GetTempFileName();
        try
        {
            File.WriteAllText(config, json);
            var result = await Cli.RunAsync(new Dictionary<string, string> { ["CASSAFS_CONFIG"] = config }, "stat", "/");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains(message, result.Err, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", result.Err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task A_directory_as_config_file_and_a_number_as_contact_point_say_what_they_are()
    {
        var dir = Directory.CreateTempSubdirectory("cassafs-config-").FullName;
        try
        {
            var asDirectory = await Cli.RunAsync(new Dictionary<string, string> { ["CASSAFS_CONFIG"] = dir }, "stat", "/");
            Assert.Equal(1, asDirectory.ExitCode);
            Assert.Contains("is a directory; --config (or CASSAFS_CONFIG) names a JSON file", asDirectory.Err, StringComparison.Ordinal);
            Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues { ContactPoints = "5" }, null, Env()));
        }
        finally
        {
            Directory.Delete(dir);
        }
    }

    [Fact]
    public void The_background_daemon_gets_the_password_through_its_environment_not_its_command_line()
    {
        var (rest, password) = MountDaemon.WithoutPassword(["mount", "/mnt/x", "--password", "s3cret", "-k", "fs"]);
        Assert.Equal(["mount", "/mnt/x", "-k", "fs"], rest);
        Assert.Equal("s3cret", password);
        (rest, password) = MountDaemon.WithoutPassword(["mount", "--password=p=q", "/mnt/x"]);
        Assert.Equal(["mount", "/mnt/x"], rest);
        Assert.Equal("p=q", password);
    }

    [Fact]
    public void Malformed_values_are_usage_errors()
    {
        Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues { LockMode = "paxos" }, null, Env()));
        // The lock mode enum would parse a number; the CLI takes the names only.
        Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(new ConnectionValues { LockMode = "1" }, null, Env()));
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
        // Long, because other mounts' changes are pushed (change notices); and the kernel's own data check stays on.
        Assert.Equal((TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60)), (new MountSettings().AttributeTimeout, new MountSettings().EntryTimeout));
        Assert.True(fuse.AutoInvalidateData);
        Assert.Throws<UsageException>(() => new MountSettings().With(["attr_timeout=soon"]));
        Assert.Throws<UsageException>(() => new MountSettings().With(["writeback_cache"]));
    }
}
