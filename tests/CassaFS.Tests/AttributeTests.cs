using CassaFS.Tests.Storage;

namespace CassaFS.Tests;

public class AttributeTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;

    private async Task<Inode> OwnedByAliceAsync(int mode = 0x1A4)
    {
        var dir = await Fs.ScratchAsync();
        return await Fs.MknodAsync(dir.Id, "f", FileType.Regular, mode, 0, Alice);
    }

    [Fact]
    public async Task Chmod_by_the_owner_works_and_by_anyone_else_fails_with_EPERM()
    {
        var file = await OwnedByAliceAsync();
        var changed = await Fs.SetAttrAsync(file.Id, new AttributeChanges { Mode = 0x180 }, Alice);
        Assert.Equal(0x180, changed.Mode);
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.SetAttrAsync(file.Id, new AttributeChanges { Mode = 0x1FF }, Bob)));
        Assert.True(changed.Ctime >= file.Ctime);
    }

    [Fact]
    public async Task Only_root_changes_the_owner_and_the_owner_only_to_their_own_groups()
    {
        var file = await OwnedByAliceAsync();
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.SetAttrAsync(file.Id, new AttributeChanges { Uid = 1001 }, Alice)));
        Assert.Equal(50, (await Fs.SetAttrAsync(file.Id, new AttributeChanges { Gid = 50 }, Alice)).Gid); // a supplementary group
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.SetAttrAsync(file.Id, new AttributeChanges { Gid = 7 }, Alice)));
        Assert.Equal(1001, (await Fs.SetAttrAsync(file.Id, new AttributeChanges { Uid = 1001 }, Root)).Uid);
    }

    [Fact]
    public async Task Chown_and_a_write_by_a_non_root_user_clear_setuid_and_setgid()
    {
        var file = await OwnedByAliceAsync(0xDED); // 06755
        var chowned = await Fs.SetAttrAsync(file.Id, new AttributeChanges { Gid = 50 }, Alice);
        Assert.Equal(0x1ED, chowned.Mode & ModeBits.Permissions);
        await Fs.SetAttrAsync(file.Id, new AttributeChanges { Mode = 0xDED }, Alice);
        var h = await Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Alice);
        await Fs.WriteAsync(h, 0, "x"u8.ToArray());
        await Fs.ReleaseAsync(h);
        Assert.Equal(0x1ED, (await Fs.GetAttrAsync(file.Id)).Mode);
    }

    [Fact]
    public async Task A_non_owner_may_clear_set_id_bits_of_a_file_it_may_write_and_its_write_clears_them_by_Linux_rules()
    {
        // Issue 13 §1: the kernel clears the bits before a non-owner's write with a SETATTR of the mode, as the writer.
        var setUid = await OwnedByAliceAsync(0x9FF); // 04777
        Assert.Equal(0x1FF, (await Fs.SetAttrAsync(setUid.Id, new AttributeChanges { Mode = 0x1FF }, Bob)).Mode);
        // Anything more than clearing them is still a chmod, for the owner only.
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.SetAttrAsync(setUid.Id, new AttributeChanges { Mode = 0x1FD }, Bob)));
        var readOnlyToBob = await OwnedByAliceAsync(0x9A4); // 04644: Bob may not write, so may not clear
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.SetAttrAsync(readOnlyToBob.Id, new AttributeChanges { Mode = 0x1A4 }, Bob)));

        // Set-gid without group execute (02767) is kept for a writer in the file's group, cleared for one outside it.
        var inGroup = await OwnedByAliceAsync(0x5F7);
        await WriteAsAsync(inGroup, Alice with { Uid = 1002 }); // another member of group 1000
        Assert.Equal(0x5F7, (await Fs.GetAttrAsync(inGroup.Id)).Mode);
        var outside = await OwnedByAliceAsync(0x5F7);
        await WriteAsAsync(outside, Bob);
        Assert.Equal(0x1F7, (await Fs.GetAttrAsync(outside.Id)).Mode);
        // Root keeps every bit (CAP_FSETID).
        var byRoot = await OwnedByAliceAsync(0xDFF); // 06777
        await WriteAsAsync(byRoot, Root);
        Assert.Equal(0xDFF, (await Fs.GetAttrAsync(byRoot.Id)).Mode);
    }

    private async Task WriteAsAsync(Inode file, Caller caller)
    {
        var h = await Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, caller);
        await Fs.WriteAsync(h, 0, "x"u8.ToArray());
        await Fs.ReleaseAsync(h);
    }

    [Fact]
    public async Task Permission_bits_decide_for_owner_group_and_others_and_root_passes()
    {
        var file = await OwnedByAliceAsync(0x1A0); // 0640, group 1000
        Assert.Equal(Errno.EACCES, await ErrnoOf(() => Fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Bob)));
        var groupMember = new Caller(2000, 2000, new[] { 1000 });
        var h = await Fs.OpenAsync(file.Id, OpenFlags.ReadOnly, groupMember);
        await Fs.ReleaseAsync(h);
        Assert.Equal(Errno.EACCES, await ErrnoOf(() => Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, groupMember)));
        await Fs.ReleaseAsync(await Fs.OpenAsync(file.Id, OpenFlags.ReadWrite, Root));
        Assert.Equal(Errno.EACCES, await ErrnoOf(() => Fs.AccessAsync(file.Id, AccessMode.Execute, Root)));
    }

    [Fact]
    public async Task Creating_in_a_directory_needs_write_and_search_permission()
    {
        var dir = await Fs.MkdirAsync(Inode.RootId, "ro" + Guid.NewGuid().ToString("N")[..8], 0x1ED, Root);
        Assert.Equal(Errno.EACCES, await ErrnoOf(() => Fs.MknodAsync(dir.Id, "x", FileType.Regular, 0x1A4, 0, Alice)));
        var noSearch = await Fs.MkdirAsync(dir.Id, "nosearch", 0x1F6, Root); // 0766: others have rw- but no x
        Assert.Equal(Errno.EACCES, await ErrnoOf(() => Fs.LookupAsync(noSearch.Id, "anything", Alice)));
    }

    [Fact]
    public async Task In_a_sticky_directory_only_the_owner_removes_or_renames_an_entry()
    {
        var tmp = await Fs.MkdirAsync(Inode.RootId, "sticky" + Guid.NewGuid().ToString("N")[..8], 0x3FF, Root); // 01777
        await Fs.MknodAsync(tmp.Id, "alices", FileType.Regular, 0x1B6, 0, Alice);
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.UnlinkAsync(tmp.Id, "alices", Bob)));
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.RenameAsync(tmp.Id, "alices", tmp.Id, "bobs", RenameFlags.None, Bob)));
        await Fs.UnlinkAsync(tmp.Id, "alices", Alice);
    }

    [Fact]
    public async Task Setgid_directories_pass_their_group_to_new_entries()
    {
        var shared = await Fs.MkdirAsync(Inode.RootId, "sgid" + Guid.NewGuid().ToString("N")[..8], 0x5FF, Root); // 02777
        await Fs.SetAttrAsync(shared.Id, new AttributeChanges { Gid = 50 }, Root);
        var file = await Fs.MknodAsync(shared.Id, "f", FileType.Regular, 0x1A4, 0, Bob);
        var sub = await Fs.MkdirAsync(shared.Id, "d", 0x1ED, Bob);
        Assert.Equal(50, file.Gid);
        Assert.Equal(50, sub.Gid);
        Assert.NotEqual(0, sub.Mode & ModeBits.SetGid);
    }

    [Fact]
    public async Task Utimens_sets_explicit_times_for_the_owner_now_for_a_writer_and_omitted_times_stay()
    {
        var file = await OwnedByAliceAsync(0x1B6); // 0666
        var past = Timespec.FromParts(1_000_000_000, 123_456_789);
        var set = await Fs.SetAttrAsync(file.Id, new AttributeChanges { Mtime = TimeChange.To(past) }, Alice);
        Assert.Equal(past, set.Mtime);
        Assert.Equal(file.Atime, set.Atime); // omitted: unchanged
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.SetAttrAsync(file.Id, new AttributeChanges { Atime = TimeChange.To(past) }, Bob)));
        var now = await Fs.SetAttrAsync(file.Id, new AttributeChanges { Atime = TimeChange.Now, Mtime = TimeChange.Now }, Bob); // Bob may write: may set now
        Assert.True(now.Mtime > past);
        var readBack = await Fs.GetAttrAsync(file.Id);
        Assert.Equal(now.Mtime, readBack.Mtime);
        Assert.Equal(123_456_789, set.Mtime.Nanoseconds);
    }

    [Fact]
    public async Task Creating_and_removing_names_update_the_directory_times()
    {
        var dir = await Fs.ScratchAsync();
        var before = await Fs.GetAttrAsync(dir.Id);
        await Task.Delay(5);
        await Fs.MknodAsync(dir.Id, "x", FileType.Regular, 0x1A4, 0, Root);
        var afterCreate = await Fs.GetAttrAsync(dir.Id);
        Assert.True(afterCreate.Mtime > before.Mtime);
        Assert.True(afterCreate.Ctime > before.Ctime);
        await Task.Delay(5);
        await Fs.UnlinkAsync(dir.Id, "x", Root);
        Assert.True((await Fs.GetAttrAsync(dir.Id)).Mtime > afterCreate.Mtime);
    }

    [Fact]
    public async Task Device_nodes_fifos_and_sockets_are_made_with_their_type_and_rdev_and_devices_need_root()
    {
        var dir = await Fs.ScratchAsync();
        var fifo = await Fs.MknodAsync(dir.Id, "fifo", FileType.Fifo, 0x1A4, 0, Alice);
        var sock = await Fs.MknodAsync(dir.Id, "sock", FileType.Socket, 0x1A4, 0, Alice);
        var dev = await Fs.MknodAsync(dir.Id, "null", FileType.CharDevice, 0x1B6, (1 << 8) | 3, Root);
        Assert.Equal(FileType.Fifo, (await Fs.GetAttrAsync(fifo.Id)).Type);
        Assert.Equal(FileType.Socket, (await Fs.GetAttrAsync(sock.Id)).Type);
        Assert.Equal((1 << 8) | 3, (await Fs.GetAttrAsync(dev.Id)).Rdev);
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.MknodAsync(dir.Id, "blk", FileType.BlockDevice, 0x1B6, 0, Alice)));
    }

    [Fact]
    public async Task Extended_attributes_are_set_listed_read_and_removed_with_create_and_replace_flags()
    {
        var file = await OwnedByAliceAsync();
        await Fs.SetXAttrAsync(file.Id, "user.colour", "blue"u8.ToArray(), XAttrFlags.Create, Alice);
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => Fs.SetXAttrAsync(file.Id, "user.colour", "red"u8.ToArray(), XAttrFlags.Create, Alice)));
        await Fs.SetXAttrAsync(file.Id, "user.colour", "red"u8.ToArray(), XAttrFlags.Replace, Alice);
        Assert.Equal(Errno.ENODATA, await ErrnoOf(() => Fs.SetXAttrAsync(file.Id, "user.size", "1"u8.ToArray(), XAttrFlags.Replace, Alice)));
        Assert.Equal("red"u8.ToArray(), await Fs.GetXAttrAsync(file.Id, "user.colour", Alice));
        Assert.Equal(new[] { "user.colour" }, await Fs.ListXAttrAsync(file.Id, Alice));
        await Fs.RemoveXAttrAsync(file.Id, "user.colour", Alice);
        Assert.Equal(Errno.ENODATA, await ErrnoOf(() => Fs.GetXAttrAsync(file.Id, "user.colour", Alice)));
        Assert.Equal(Errno.EOPNOTSUPP, await ErrnoOf(() => Fs.SetXAttrAsync(file.Id, "bogus", "x"u8.ToArray(), XAttrFlags.Either, Alice)));
        Assert.Equal(Errno.EACCES, await ErrnoOf(() => Fs.SetXAttrAsync(file.Id, "user.x", "x"u8.ToArray(), XAttrFlags.Either, Bob)));
    }

    [Fact]
    public async Task Statfs_reports_the_block_size_and_counts_used_blocks()
    {
        var before = await Fs.StatFsAsync();
        var dir = await Fs.ScratchAsync();
        await Fs.WriteFileAsync(dir.Id, "f", new byte[Fs.BlockSize * 3]);
        var after = await Fs.StatFsAsync();
        Assert.Equal(Fs.BlockSize, after.BlockSize);
        Assert.Equal(255, after.MaxNameLength);
        Assert.True(after.UsedBlocks >= before.UsedBlocks + 3);
        Assert.Equal(after.TotalBlocks, after.FreeBlocks + after.UsedBlocks);
    }
}

/// <summary>chmod, chown and utimens of a file this client is writing (tar does all three to every file it extracts).</summary>
public class WriterAttributeTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    [Fact]
    public async Task Attributes_set_while_writing_join_the_writers_commit_without_locks_of_their_own_and_show_everywhere_after_close()
    {
        CountingLocks counting = null!;
        await using var writer = await f.SecondClientAsync(real => counting = new CountingLocks(real));
        var dir = await f.Fs.ScratchAsync();
        var (handle, inode) = await writer.Fs.CreateAsync(dir.Id, "f", 0x180, OpenFlags.WriteOnly, FsTestExtensions.Root);
        await writer.Fs.WriteAsync(handle, 0, "some bytes"u8.ToArray());
        var before = counting.Acquired;
        var mtime = Timespec.FromParts(1_600_000_000, 5);
        await writer.Fs.SetAttrAsync(inode.Id, new AttributeChanges { Mtime = TimeChange.To(mtime) }, FsTestExtensions.Root, handle);
        await writer.Fs.SetAttrAsync(inode.Id, new AttributeChanges { Uid = 1000, Gid = 50 }, FsTestExtensions.Root, handle);
        var seen = await writer.Fs.SetAttrAsync(inode.Id, new AttributeChanges { Mode = 0x1A4 }, FsTestExtensions.Root, handle);
        Assert.Equal(before, counting.Acquired);
        Assert.Equal((0x1A4, 1000, 50, mtime, 10L), (seen.Mode, seen.Uid, seen.Gid, seen.Mtime, seen.Size));
        var local = await writer.Fs.GetAttrAsync(inode.Id);
        Assert.Equal((0x1A4, 1000, 50, mtime), (local.Mode, local.Uid, local.Gid, local.Mtime));

        await writer.Fs.ReleaseAsync(handle);
        var stored = await f.Fs.GetAttrAsync(inode.Id);
        Assert.Equal((0x1A4, 1000, 50, mtime, 10L), (stored.Mode, stored.Uid, stored.Gid, stored.Mtime, stored.Size));
    }

    [Fact]
    public async Task A_file_created_for_writing_is_written_and_closed_without_another_lock_and_its_bytes_show_everywhere()
    {
        // Issue 15: the creator's first write waited for the writer lock; it is now taken beside the create.
        CountingLocks counting = null!;
        await using var writer = await f.SecondClientAsync(real => counting = new CountingLocks(real));
        var dir = await f.Fs.ScratchAsync();
        var (handle, inode) = await writer.Fs.CreateAsync(dir.Id, "f", 0x1A4, OpenFlags.WriteOnly, FsTestExtensions.Root);
        var before = counting.Acquired;
        await writer.Fs.WriteAsync(handle, 0, "made and written"u8.ToArray());
        await writer.Fs.WriteAsync(handle, 5, "AND"u8.ToArray());
        await writer.Fs.ReleaseAsync(handle);
        Assert.Equal(before, counting.Acquired);

        Assert.Equal(16L, (await f.Fs.GetAttrAsync(inode.Id)).Size);
        Assert.Equal("made AND written", System.Text.Encoding.ASCII.GetString(await f.Fs.ReadFileAsync(inode.Id)));
    }

    [Fact]
    public async Task A_create_whose_early_writer_lock_fails_still_succeeds_and_its_first_write_takes_the_lock()
    {
        RefusesFirstWriterLock refusing = null!;
        await using var writer = await f.SecondClientAsync(real => refusing = new RefusesFirstWriterLock(real));
        var dir = await f.Fs.ScratchAsync();
        var (handle, inode) = await writer.Fs.CreateAsync(dir.Id, "f", 0x1A4, OpenFlags.WriteOnly, FsTestExtensions.Root);
        Assert.Equal(1, refusing.Refused);
        await writer.Fs.WriteAsync(handle, 0, "written late"u8.ToArray());
        await writer.Fs.ReleaseAsync(handle);
        Assert.Equal("written late", System.Text.Encoding.ASCII.GetString(await f.Fs.ReadFileAsync(inode.Id)));
    }

    [Fact]
    public async Task Extended_attributes_read_while_writing_come_from_memory_and_a_change_by_another_client_shows_once_the_writer_lets_go()
    {
        await using var writer = await f.SecondClientAsync();
        var dir = await f.Fs.ScratchAsync();
        var (handle, inode) = await writer.Fs.CreateAsync(dir.Id, "f", 0x1A4, OpenFlags.ReadWrite, FsTestExtensions.Root);
        await writer.Fs.WriteAsync(handle, 0, "first"u8.ToArray());
        Assert.Equal(Errno.ENODATA, await FsTestExtensions.ErrnoOf(() => writer.Fs.GetXAttrAsync(inode.Id, "security.capability", FsTestExtensions.Root)));
        // Another client's change takes the inode's lock, which the writer lets go once idle; its next read sees the change.
        await f.Fs.SetXAttrAsync(inode.Id, "security.capability", "cap"u8.ToArray(), XAttrFlags.Either, FsTestExtensions.Root);
        Assert.Equal("cap"u8.ToArray(), await writer.Fs.GetXAttrAsync(inode.Id, "security.capability", FsTestExtensions.Root));
        await writer.Fs.WriteAsync(handle, 5, "second"u8.ToArray());
        Assert.Equal("cap"u8.ToArray(), await writer.Fs.GetXAttrAsync(inode.Id, "security.capability", FsTestExtensions.Root));
        // The writer's own change and removal show at once too.
        await writer.Fs.SetXAttrAsync(inode.Id, "user.colour", "red"u8.ToArray(), XAttrFlags.Either, FsTestExtensions.Root);
        await writer.Fs.WriteAsync(handle, 11, "third"u8.ToArray());
        Assert.Equal("red"u8.ToArray(), await writer.Fs.GetXAttrAsync(inode.Id, "user.colour", FsTestExtensions.Root));
        await writer.Fs.RemoveXAttrAsync(inode.Id, "security.capability", FsTestExtensions.Root);
        await writer.Fs.WriteAsync(handle, 16, "fourth"u8.ToArray());
        Assert.Equal(Errno.ENODATA, await FsTestExtensions.ErrnoOf(() => writer.Fs.GetXAttrAsync(inode.Id, "security.capability", FsTestExtensions.Root)));
        // Permission is still checked: a trusted attribute is not for a plain user, writer or not.
        Assert.Equal(Errno.ENODATA, await FsTestExtensions.ErrnoOf(() => writer.Fs.GetXAttrAsync(inode.Id, "trusted.x", FsTestExtensions.Alice)));
        await writer.Fs.ReleaseAsync(handle);
        Assert.Equal("firstsecondthirdfourth"u8.ToArray(), await f.Fs.ReadFileAsync(inode.Id));
    }

    [Fact]
    public async Task Repeated_reads_of_an_extended_attribute_while_writing_read_the_store_once()
    {
        var store = await MemoryStore.FormattedAsync();
        var options = new FileSystemOptions { Keyspace = "memory", Locks = new CassaFS.Locks.LocalLockProvider() };
        await using var fs = CassaFileSystem.Open(store, options, 64 * 1024);
        var dir = await fs.ScratchAsync();
        var (handle, inode) = await fs.CreateAsync(dir.Id, "f", 0x1A4, OpenFlags.WriteOnly, FsTestExtensions.Root);
        await fs.WriteAsync(handle, 0, "x"u8.ToArray());
        var before = store.XAttrReads;
        for (var i = 0; i < 100; i++)
        {
            // What the kernel does before each write: ask for security.capability.
            Assert.Equal(Errno.ENODATA, await FsTestExtensions.ErrnoOf(() => fs.GetXAttrAsync(inode.Id, "security.capability", FsTestExtensions.Root)));
            await fs.WriteAsync(handle, i + 1, "y"u8.ToArray());
        }
        Assert.Equal(before + 1, store.XAttrReads);
        await fs.ReleaseAsync(handle);
    }

    [Fact]
    public async Task An_owner_check_still_refuses_a_chmod_by_another_user_of_a_file_being_written()
    {
        var dir = await f.Fs.ScratchAsync();
        var (handle, inode) = await f.Fs.CreateAsync(dir.Id, "f", 0x1B6, OpenFlags.WriteOnly, FsTestExtensions.Alice);
        await f.Fs.WriteAsync(handle, 0, "x"u8.ToArray());
        Assert.Equal(Errno.EPERM, await FsTestExtensions.ErrnoOf(() => f.Fs.SetAttrAsync(inode.Id, new AttributeChanges { Mode = 0x1FF }, FsTestExtensions.Bob, handle)));
        await f.Fs.ReleaseAsync(handle);
        Assert.Equal(0x1B6, (await f.Fs.GetAttrAsync(inode.Id)).Mode);
    }

    /// <summary>Refuses the first writer lock a client asks for (as a lost ZooKeeper session would), grants the rest.</summary>
    private sealed class RefusesFirstWriterLock(CassaFS.Locks.ILockProvider inner) : ForwardingLockProvider(inner)
    {
        private int _refused;

        public int Refused => Volatile.Read(ref _refused);

        public override ValueTask<CassaFS.Locks.ILockHandle> AcquireAsync(CassaFS.Locks.LockRequest request, CancellationToken ct = default) =>
            request.Purpose.StartsWith("write ", StringComparison.Ordinal) && Interlocked.CompareExchange(ref _refused, 1, 0) == 0
                ? throw new CassaFS.Locks.LockTimeoutException(request.Key, request.Timeout ?? TimeSpan.Zero, Array.Empty<CassaFS.Locks.LockParticipant>())
                : Inner.AcquireAsync(request, ct);
    }

    /// <summary>Counts the locks a client acquires.</summary>
    private sealed class CountingLocks(CassaFS.Locks.ILockProvider inner) : ForwardingLockProvider(inner)
    {
        private int _acquired;

        public int Acquired => Volatile.Read(ref _acquired);

        public override ValueTask<CassaFS.Locks.ILockHandle> AcquireAsync(CassaFS.Locks.LockRequest request, CancellationToken ct = default)
        {
            Interlocked.Increment(ref _acquired);
            return Inner.AcquireAsync(request, ct);
        }
    }
}
