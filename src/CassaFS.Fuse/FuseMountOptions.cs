namespace CassaFS.Fuse;

/// <summary>How a filesystem is mounted. auto_unmount is always on, so a killed daemon never leaves a dead mount behind.</summary>
public sealed record FuseMountOptions
{
    /// <summary>Mount read-only (-o ro): the kernel answers writes with EROFS.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Let users other than the mounting one in (-o allow_other; needs root or user_allow_other in /etc/fuse.conf).</summary>
    public bool AllowOther { get; init; } = true;

    /// <summary>Let the kernel check permissions from the mode bits (-o default_permissions); access() is then never called.</summary>
    public bool DefaultPermissions { get; init; } = true;

    /// <summary>The source column of /proc/mounts (-o fsname=).</summary>
    public string FileSystemName { get; init; } = "cassafs";

    /// <summary>Shown as the type fuse.&lt;subtype&gt; (-o subtype=).</summary>
    public string Subtype { get; init; } = "cassafs";

    /// <summary>Attribute cache time for replies that do not set their own.</summary>
    public TimeSpan AttributeTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Name cache time for replies that do not set their own.</summary>
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest write request (conn->max_write; libfuse 3.14 caps it at 1 MiB).</summary>
    public int MaxWrite { get; init; } = 1 << 20;

    /// <summary>Largest read request (-o max_read=) and readahead window.</summary>
    public int MaxRead { get; init; } = 1 << 20;

    /// <summary>Readahead window in KiB set on the mount's bdi after mounting (needs root; 0 keeps the kernel's 128 KiB).</summary>
    public int ReadAheadKiB { get; init; } = 1024;

    /// <summary>Upper bound of libfuse worker threads. Handlers that complete asynchronously free their worker at once.</summary>
    public int MaxThreads { get; init; } = 10;

    /// <summary>
    /// Let the kernel drop a file's cached pages whenever attributes it fetches show another mtime or size
    /// (auto_inval_data, libfuse's default). Turn it off when the filesystem says itself what is stale (keep_cache at
    /// open, <see cref="FuseMount.InvalidateData"/>): without writeback caching the kernel never learns the mtime its
    /// own writes gave a file, so with this on every write makes the next getattr drop the writer's pages.
    /// </summary>
    public bool AutoInvalidateData { get; init; } = true;

    /// <summary>Serve readdirplus (attributes with the listing) when the kernel offers it.</summary>
    public bool ReadDirPlus { get; init; } = true;

    /// <summary>On SIGTERM / SIGINT, unmount cleanly instead of letting the runtime exit (then <see cref="FuseMount.Completion"/> completes).</summary>
    public bool HandleTerminationSignals { get; init; }

    /// <summary>How long unmount waits for the kernel to let go before aborting the connection through fusectl.</summary>
    public TimeSpan UnmountTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long teardown waits for handlers still running before the session is destroyed (late replies are dropped).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>libfuse debug output (-d) on stderr.</summary>
    public bool Debug { get; init; }

    /// <summary>Told of exceptions other than <see cref="FuseException"/> escaping a handler (the kernel got EIO).</summary>
    public Action<Exception>? OnHandlerError { get; init; }

    /// <summary>
    /// A soft mount's bound: an operation whose handler has not answered in this time gets EIO (its handler goes on,
    /// outcome unknown). Null, the default here, is a hard mount: the kernel waits as long as the handler takes.
    /// Blocking lock waits are never bounded (Ctrl+C ends them).
    /// </summary>
    public TimeSpan? OperationTimeout { get; init; }
}
