using System.Globalization;
using CassaFS.Cql;

namespace CassaFS;

/// <summary>
/// The tables of one filesystem (one keyspace). Nothing is keyed by path:
/// <list type="bullet">
/// <item><c>inodes</c>: one row per inode (stat data, symlink target, directory parent, fencing token).</item>
/// <item><c>entries</c>: one partition per directory, names sorted: a listing is one slice.</item>
/// <item><c>blocks</c>: one partition per (inode, block index), so a large file spreads over the ring.</item>
/// <item><c>slices</c>: per (inode, block index), bytes written into the block on their own (stamp, position), merged
/// over the block's row when read (<see cref="Slice"/>); a row may pack several disjoint ranges (<c>ranges</c>).</item>
/// <item><c>block_index</c>: per inode, which blocks exist (holes cost nothing; fsck and truncate read it).</item>
/// <item><c>xattrs</c>, <c>meta</c> (schema version, block size), <c>usage</c> (counters for statfs).</item>
/// <item><c>notices</c>: what each client changed lately, in 10-second partitions that expire, read by the others'
/// caches (the kernel's behind a mount) to drop what went stale.</item>
/// </list>
/// </summary>
public static class Schema
{
    /// <summary>Bumped whenever the tables change shape; checked on mount.</summary>
    public const int Version = 3;

    internal static IEnumerable<string> Tables(string ks) => new[]
    {
        $"CREATE TABLE IF NOT EXISTS {ks}.meta (key text PRIMARY KEY, value text)",
        $"CREATE TABLE IF NOT EXISTS {ks}.inodes (id uuid PRIMARY KEY, type int, mode int, uid int, gid int, nlink bigint, size bigint, rdev bigint, " +
            "atime bigint, mtime bigint, ctime bigint, target text, generation bigint, parent uuid, blocks bigint, fence bigint)",
        $"CREATE TABLE IF NOT EXISTS {ks}.entries (dir uuid, name text, inode uuid, type int, PRIMARY KEY (dir, name))",
        $"CREATE TABLE IF NOT EXISTS {ks}.blocks (inode uuid, idx bigint, data blob, PRIMARY KEY ((inode, idx)))",
        $"CREATE TABLE IF NOT EXISTS {ks}.slices (inode uuid, idx bigint, stamp bigint, pos int, data blob, ranges blob, PRIMARY KEY ((inode, idx), stamp, pos))",
        $"CREATE TABLE IF NOT EXISTS {ks}.block_index (inode uuid, idx bigint, PRIMARY KEY (inode, idx))",
        $"CREATE TABLE IF NOT EXISTS {ks}.xattrs (inode uuid, name text, value blob, PRIMARY KEY (inode, name))",
        $"CREATE TABLE IF NOT EXISTS {ks}.usage (fs text PRIMARY KEY, blocks counter, inodes counter)",
        $"CREATE TABLE IF NOT EXISTS {ks}.notices (bucket bigint, at bigint, id uuid, client uuid, inode uuid, name text, PRIMARY KEY (bucket, at, id)) " +
            "WITH gc_grace_seconds = 3600",
    };

    /// <summary>Creates the keyspace and tables, the root directory and the metadata; refuses an existing filesystem unless forced.</summary>
    public static async Task FormatAsync(CqlSession session, FormatOptions options, CancellationToken ct = default)
    {
        var ks = Names.Keyspace(options.Keyspace);
        if (options.BlockSize is < 4096 or > 4 * 1024 * 1024 || (options.BlockSize & (options.BlockSize - 1)) != 0)
            throw new FileSystemException(Errno.EINVAL, options.BlockSize.ToString(CultureInfo.InvariantCulture), "the block size is a power of two from 4096 to 4194304 bytes");
        var existing = await ReadMetaAsync(session, ks, options.Consistency, ct).ConfigureAwait(false);
        if (existing is not null && !options.Force)
            throw new FileSystemException(Errno.EEXIST, ks, "a CassaFS filesystem is already there; formatting with force destroys it and its data");
        if (await KeyspaceExistsAsync(session, ks, ct).ConfigureAwait(false))
        {
            if (existing is null && !options.Force)
                throw new FileSystemException(Errno.EEXIST, ks, "the keyspace exists and holds something else; choose another keyspace, or format with force to replace it");
            await DdlAsync(session, $"DROP KEYSPACE IF EXISTS {ks}", ct).ConfigureAwait(false);
            await session.WaitForSchemaAgreementAsync(ct: ct).ConfigureAwait(false);
        }
        await DdlAsync(session, $"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {Replication(options)}", ct).ConfigureAwait(false);
        foreach (var ddl in Tables(ks))
            await DdlAsync(session, ddl, ct).ConfigureAwait(false);
        await session.WaitForSchemaAgreementAsync(ct: ct).ConfigureAwait(false);

        var now = Timespec.Now.TotalNanoseconds;
        await session.ExecuteAsync(new SimpleStatement(
            $"INSERT INTO {ks}.inodes (id, type, mode, uid, gid, nlink, size, rdev, atime, mtime, ctime, generation, parent, blocks, fence) " +
            "VALUES (?, ?, ?, ?, ?, 2, 0, 0, ?, ?, ?, 0, ?, 0, 0)",
            Inode.RootId, (int)FileType.Directory, options.RootMode & ModeBits.Permissions, options.RootUid, options.RootGid, now, now, now, Inode.RootId)
            .WithConsistency(options.Consistency), ct).ConfigureAwait(false);
        // The metadata row goes last: a format interrupted before it is not a filesystem, and a rerun may redo it.
        foreach (var (key, value) in new[]
                 {
                     ("block_size", options.BlockSize.ToString(CultureInfo.InvariantCulture)),
                     ("created", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture)),
                     ("schema_version", Version.ToString(CultureInfo.InvariantCulture)),
                 })
        {
            await session.ExecuteAsync(new SimpleStatement($"INSERT INTO {ks}.meta (key, value) VALUES (?, ?)", key, value)
                .WithConsistency(options.Consistency), ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Removes a filesystem: drops its keyspace, with every inode, entry and block. Refuses a keyspace that holds no
    /// CassaFS filesystem (ENOENT), so a typo cannot drop someone else's data; <paramref name="consistency"/> is that check's.
    /// </summary>
    public static async Task DestroyAsync(CqlSession session, string keyspace, Consistency consistency, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        var ks = Names.Keyspace(keyspace);
        if (await ReadMetaAsync(session, ks, consistency, ct).ConfigureAwait(false) is null)
            throw new FileSystemException(Errno.ENOENT, ks, "holds no CassaFS filesystem; nothing was removed");
        await DdlAsync(session, $"DROP KEYSPACE IF EXISTS {ks}", ct).ConfigureAwait(false);
        await session.WaitForSchemaAgreementAsync(ct: ct).ConfigureAwait(false);
    }

    /// <summary>The filesystem's settings read at <paramref name="consistency"/>, or null when the keyspace holds no (complete) CassaFS filesystem.</summary>
    public static async Task<IReadOnlyDictionary<string, string>?> ReadMetaAsync(CqlSession session, string keyspace, Consistency consistency, CancellationToken ct = default)
    {
        var ks = Names.Keyspace(keyspace);
        var tables = await session.ExecuteAsync(new SimpleStatement(
            "SELECT columnfamily_name FROM system.schema_columnfamilies WHERE keyspace_name = ? AND columnfamily_name = ?", ks.ToLowerInvariant(), "meta"), ct).ConfigureAwait(false);
        if (tables.Count == 0) return null;
        var rows = await session.ExecuteAsync(new SimpleStatement($"SELECT key, value FROM {ks}.meta").WithConsistency(consistency), ct).ConfigureAwait(false);
        var meta = rows.ToDictionary(r => r.Get<string>("key"), r => r.Get<string>("value"), StringComparer.Ordinal);
        return meta.ContainsKey("schema_version") ? meta : null;
    }

    /// <summary>
    /// Schema changes are slow on a busy cluster and a timed-out one may still be applied; every statement here is
    /// IF NOT EXISTS, so trying again is safe and tells us nothing is missing.
    /// </summary>
    private static async Task DdlAsync(CqlSession session, string ddl, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await session.ExecuteAsync(new SimpleStatement(ddl).AsIdempotent(), ct).ConfigureAwait(false);
                return;
            }
            catch (CqlException e) when (attempt < 4 && CassandraStore.OutcomeUnknown(e))
            {
                await session.WaitForSchemaAgreementAsync(ct: ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task<bool> KeyspaceExistsAsync(CqlSession session, string ks, CancellationToken ct)
    {
        var rows = await session.ExecuteAsync(new SimpleStatement(
            "SELECT keyspace_name FROM system.schema_keyspaces WHERE keyspace_name = ?", ks.ToLowerInvariant()), ct).ConfigureAwait(false);
        return rows.Count > 0;
    }

    private static string Replication(FormatOptions o) => o.ReplicationStrategy switch
    {
        "SimpleStrategy" when o.ReplicationFactor is >= 1 and <= 100 =>
            string.Create(CultureInfo.InvariantCulture, $"{{'class': 'SimpleStrategy', 'replication_factor': {o.ReplicationFactor}}}"),
        "NetworkTopologyStrategy" when o.DataCenters.Count > 0 =>
            "{'class': 'NetworkTopologyStrategy', " +
            string.Join(", ", o.DataCenters.Select(dc => string.Create(CultureInfo.InvariantCulture, $"'{Names.DataCenter(dc.Key)}': {Math.Clamp(dc.Value, 1, 100)}"))) + "}",
        _ => throw new FileSystemException(Errno.EINVAL, o.ReplicationStrategy,
            "replication is SimpleStrategy with a factor of 1-100, or NetworkTopologyStrategy with replicas per data center"),
    };
}
