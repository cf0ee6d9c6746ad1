using System.Globalization;
using CassaFS.Fuse;

namespace CassaFS.Cli;

/// <summary>
/// The kernel-side options of a mount, parsed from `-o a,b=c` lists as mount(8) takes them.
/// </summary>
public sealed record MountSettings
{
    public bool ReadOnly { get; init; }
    public bool AllowOther { get; init; } = true;
    public bool DefaultPermissions { get; init; } = true;
    /// <summary>
    /// How long the kernel may trust attributes and names. Other mounts' changes drop them well before (the mount
    /// reads their change notices every quarter second); this bounds only what a lost notice leaves stale. 60 s, NFS's
    /// own longest attribute cache (acregmax, acdirmax), which NFS keeps with no notices at all: at 10 s, the files a
    /// slow create loop made first had expired before it was done, and every stat of them went to the daemon.
    /// </summary>
    public TimeSpan AttributeTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <inheritdoc cref="AttributeTimeout"/>
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public int MaxWrite { get; init; } = 1 << 20;
    public int MaxRead { get; init; } = 1 << 20;
    public int MaxThreads { get; init; } = 16;
    public bool Debug { get; init; }
    /// <summary>
    /// Soft mount (the default): an operation the servers do not answer within <see cref="Timeout"/> fails with EIO, so a
    /// lost quorum never hangs a program; its outcome is then unknown (the daemon logs it). Hard: wait as long as it takes.
    /// </summary>
    public bool Hard { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Applies one or more `-o` lists to these settings.</summary>
    /// <exception cref="UsageException">An option is unknown or its value malformed.</exception>
    public MountSettings With(IEnumerable<string> optionLists)
    {
        ArgumentNullException.ThrowIfNull(optionLists);
        var s = this;
        foreach (var item in optionLists.SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? item : item[..eq];
            var value = eq < 0 ? null : item[(eq + 1)..];
            s = name switch
            {
                "ro" => s with { ReadOnly = true },
                "rw" => s with { ReadOnly = false },
                "allow_other" => s with { AllowOther = true },
                "noallow_other" => s with { AllowOther = false },
                "default_permissions" => s with { DefaultPermissions = true },
                "nodefault_permissions" => s with { DefaultPermissions = false },
                // Always on: a daemon that dies never leaves a dead mount behind.
                "auto_unmount" => s,
                "attr_timeout" => s with { AttributeTimeout = Seconds(name, value) },
                "entry_timeout" => s with { EntryTimeout = Seconds(name, value) },
                "max_write" => s with { MaxWrite = Bytes(name, value) },
                "max_read" => s with { MaxRead = Bytes(name, value) },
                "max_threads" => s with { MaxThreads = (int)Math.Clamp(Bytes(name, value), 1, 256) },
                "debug" => s with { Debug = true },
                "hard" => s with { Hard = true },
                "soft" => s with { Hard = false },
                "timeout" => s with { Timeout = Seconds(name, value) is { TotalSeconds: >= 1 } t ? t : throw new UsageException("mount option timeout needs at least 1 second") },
                _ => throw new UsageException(
                    $"unknown mount option '{name}'; known: ro, rw, allow_other, noallow_other, default_permissions, nodefault_permissions, auto_unmount, " +
                    "attr_timeout=SECONDS, entry_timeout=SECONDS, max_write=BYTES, max_read=BYTES, max_threads=N, soft, hard, timeout=SECONDS, debug"),
            };
        }
        return s;
    }

    /// <summary>The FUSE binding's options for these settings.</summary>
    public FuseMountOptions ToFuseOptions(string keyspace, Action<Exception>? onHandlerError) => new()
    {
        ReadOnly = ReadOnly,
        AllowOther = AllowOther,
        DefaultPermissions = DefaultPermissions,
        FileSystemName = $"cassafs:{keyspace}",
        Subtype = "cassafs",
        AttributeTimeout = AttributeTimeout,
        EntryTimeout = EntryTimeout,
        // auto_inval_data stays on beside the adapter's own drops (CassaFuseFileSystem.KeepsCache and NoteStored):
        // with it off, two SQLite writers on two mounts read a malformed page now and then (MultiMountTests).
        MaxWrite = MaxWrite,
        MaxRead = MaxRead,
        ReadAheadKiB = Math.Max(128, MaxRead / 1024),
        MaxThreads = MaxThreads,
        HandleTerminationSignals = true,
        Debug = Debug,
        OnHandlerError = onHandlerError,
        OperationTimeout = Hard ? null : Timeout,
    };

    private static TimeSpan Seconds(string name, string? value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 0 && s < 86400
            ? TimeSpan.FromSeconds(s)
            : throw new UsageException($"mount option {name} needs seconds, e.g. {name}=1 or {name}=0.5");

    private static int Bytes(string name, string? value)
    {
        if (value is null) throw new UsageException($"mount option {name} needs a value, e.g. {name}=1048576 or {name}=1M");
        long factor = 1;
        var digits = value;
        if (value.Length > 1 && char.ToUpperInvariant(value[^1]) is 'K' or 'M')
        {
            factor = char.ToUpperInvariant(value[^1]) == 'K' ? 1024 : 1024 * 1024;
            digits = value[..^1];
        }
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && n * factor <= int.MaxValue
            ? (int)(n * factor)
            : throw new UsageException($"mount option {name}={value} is not a byte count");
    }
}
