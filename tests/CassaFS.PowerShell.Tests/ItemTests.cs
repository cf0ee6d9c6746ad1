using System.Text;

namespace CassaFS.PowerShell.Tests;

[Collection("drive")]
public sealed class ItemTests(DriveFixture fixture)
{
    private ItemOperations Items => new(fixture.Drive);

    [Fact]
    public async Task New_item_makes_files_with_content_directories_symbolic_and_hard_links()
    {
        var dir = await fixture.NewDirectoryAsync();
        var file = await Items.NewAsync($"{dir}/a.txt", ItemKind.File, "hello");
        Assert.Equal(5, file.Length);
        Assert.Equal("-rw-r--r--", file.Mode);
        var sub = await Items.NewAsync($@"cassa:{dir.Replace('/', '\\')}\sub", ItemKind.Directory);
        Assert.True(sub.IsDirectory);
        Assert.StartsWith("d", sub.Mode, StringComparison.Ordinal);
        var link = await Items.NewAsync($"{dir}/link", ItemKind.SymbolicLink, "a.txt");
        Assert.Equal(FileType.Symlink, link.Type);
        Assert.Equal("a.txt", link.Target);
        var hard = await Items.NewAsync($"{dir}/hard", ItemKind.HardLink, $"{dir}/a.txt");
        Assert.Equal(file.Inode, hard.Inode);
        Assert.Equal(2, hard.LinkCount);
        Assert.Equal("root", file.Owner);
    }

    [Fact]
    public async Task New_item_on_an_existing_name_fails_with_ResourceExists_unless_forced()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/a", ItemKind.File, "one");
        var e = await Assert.ThrowsAsync<FileSystemException>(() => Items.NewAsync($"{dir}/a", ItemKind.File, "two"));
        Assert.Equal("ResourceExists", Failure.Of(e).Category);
        Assert.Contains("-Force", e.Message, StringComparison.Ordinal);
        var forced = await Items.NewAsync($"{dir}/a", ItemKind.File, "three!", force: true);
        Assert.Equal(6, forced.Length);
        await Items.NewAsync($"{dir}/d", ItemKind.Directory);
        Assert.True((await Items.NewAsync($"{dir}/d", ItemKind.Directory, force: true)).IsDirectory);
        await Assert.ThrowsAsync<FileSystemException>(() => Items.NewAsync($"{dir}/x/y/z", ItemKind.Directory));
        Assert.True((await Items.NewAsync($"{dir}/x/y/z", ItemKind.Directory, force: true)).IsDirectory);
        Assert.Equal(1, (await Items.NewAsync($"{dir}/p/q/file", ItemKind.File, "1", force: true)).Length);
    }

    [Fact]
    public async Task Remove_item_removes_files_and_needs_recurse_for_a_directory_with_children()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/d", ItemKind.Directory);
        await Items.NewAsync($"{dir}/d/e", ItemKind.Directory);
        await Items.NewAsync($"{dir}/d/e/f.txt", ItemKind.File, "x");
        var e = await Assert.ThrowsAsync<FileSystemException>(() => Items.RemoveAsync($"{dir}/d", recurse: false));
        Assert.Equal(Errno.ENOTEMPTY, e.Errno);
        Assert.Contains("-Recurse", e.Message, StringComparison.Ordinal);
        await Items.RemoveAsync($"{dir}/d", recurse: true);
        Assert.False(await Items.ExistsAsync($"{dir}/d"));
        var missing = await Assert.ThrowsAsync<FileSystemException>(() => Items.RemoveAsync($"{dir}/d", recurse: false));
        Assert.Equal("ObjectNotFound", Failure.Of(missing).Category);
    }

    [Fact]
    public async Task Rename_move_and_copy_work_within_the_drive()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/a.txt", ItemKind.File, "data");
        var renamed = await Items.RenameAsync($"{dir}/a.txt", "b.txt");
        Assert.Equal($"{dir}/b.txt", renamed.FileSystemPath);
        await Items.NewAsync($"{dir}/c.txt", ItemKind.File, "other");
        var taken = await Assert.ThrowsAsync<FileSystemException>(() => Items.RenameAsync($"{dir}/b.txt", "c.txt"));
        Assert.Equal(Errno.EEXIST, taken.Errno);
        await Assert.ThrowsAsync<ArgumentException>(() => Items.RenameAsync($"{dir}/b.txt", "x/y"));

        await Items.NewAsync($"{dir}/into", ItemKind.Directory);
        var moved = await Items.MoveAsync($"{dir}/b.txt", $"{dir}/into");
        Assert.Equal($"{dir}/into/b.txt", moved.FileSystemPath);
        await Assert.ThrowsAsync<FileSystemException>(() => Items.MoveAsync($"{dir}/c.txt", $"{dir}/into/b.txt"));
        await Items.MoveAsync($"{dir}/c.txt", $"{dir}/into/b.txt", force: true);
        Assert.Equal("other", await ReadAsync($"{dir}/into/b.txt"));

        await Items.NewAsync($"{dir}/into/deep", ItemKind.Directory);
        await Items.NewAsync($"{dir}/into/deep/z", ItemKind.File, "zz");
        var copy = await Items.CopyAsync($"{dir}/into", $"{dir}/copy", recurse: true);
        Assert.True(copy.IsDirectory);
        Assert.Equal("other", await ReadAsync($"{dir}/copy/b.txt"));
        Assert.Equal("zz", await ReadAsync($"{dir}/copy/deep/z"));
        Assert.Equal("other", await ReadAsync($"{dir}/into/b.txt"));
        var shallow = await Items.CopyAsync($"{dir}/into", $"{dir}/shallow", recurse: false);
        Assert.True(shallow.IsDirectory);
        Assert.False(await Items.HasChildrenAsync($"{dir}/shallow"));
        await Assert.ThrowsAsync<FileSystemException>(() => Items.CopyAsync($"{dir}/into", $"{dir}/into/deep/self", recurse: true));
    }

    [Fact]
    public async Task Test_path_distinguishes_containers_leaves_and_missing_paths()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/f", ItemKind.File, "");
        Assert.True(await Items.ExistsAsync(dir, PathKind.Container));
        Assert.False(await Items.ExistsAsync(dir, PathKind.Leaf));
        Assert.True(await Items.ExistsAsync($"{dir}/f", PathKind.Leaf));
        Assert.False(await Items.ExistsAsync($"{dir}/f", PathKind.Container));
        Assert.False(await Items.ExistsAsync($"{dir}/nope"));
        Assert.False(await Items.ExistsAsync($"{dir}/f/under-a-file"));
        Assert.True(await Items.ExistsAsync($"{dir}/./f/../f"));
    }

    [Fact]
    public async Task Names_with_spaces_unicode_and_wildcard_characters_work_literally()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/my file ✓ ü.txt", ItemKind.File, "u");
        await Items.NewAsync($"{dir}/file[1].txt", ItemKind.File, "literal");
        await Items.NewAsync($"{dir}/file1.txt", ItemKind.File, "wild");
        Assert.Equal("u", await ReadAsync($"{dir}/my file ✓ ü.txt"));
        Assert.Equal([$"{dir}/file[1].txt"], await Items.ExpandAsync($"{dir}/file[1].txt", literal: true));
        Assert.Equal([$"{dir}/file1.txt"], await Items.ExpandAsync($"{dir}/file[1].txt", literal: false));
        Assert.Equal([$"{dir}/file[1].txt"], await Items.ExpandAsync($"{dir}/file`[1`].txt", literal: false));
        Assert.Equal([$"{dir}/file1.txt", $"{dir}/file[1].txt"], (await Items.ExpandAsync($"{dir}/file*", literal: false)).Order(StringComparer.Ordinal).ToArray());
        Assert.Empty(await Items.ExpandAsync($"{dir}/nothing*", literal: false));
    }

    [Fact]
    public async Task Child_names_complete_a_prefix_for_tab_completion()
    {
        var dir = await fixture.NewDirectoryAsync();
        foreach (var n in new[] { "alpha", "alps", "beta", ".hidden" }) await Items.NewAsync($"{dir}/{n}", ItemKind.File, "");
        var names = new List<string>();
        await foreach (var n in Items.ChildNamesAsync(dir, "al*")) names.Add(n);
        Assert.Equal(["alpha", "alps"], names);
        var visible = new List<string>();
        await foreach (var n in Items.ChildNamesAsync(dir, null, includeHidden: false)) visible.Add(n);
        Assert.Equal(["alpha", "alps", "beta"], visible);
    }

    [Fact]
    public async Task Item_properties_set_mode_owner_group_and_times()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/p", ItemKind.File, "x");
        var when = new DateTime(2020, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        var changes = ItemPropertyChanges.FromPairs([
            new("Mode", "0600"), new("Owner", "1234"), new("Group", "4321"), new("LastWriteTime", when), new("LastAccessTime", when)]);
        var item = await Items.SetPropertiesAsync($"{dir}/p", changes);
        Assert.Equal("-rw-------", item.Mode);
        Assert.Equal(1234, item.Uid);
        Assert.Equal(4321, item.Gid);
        Assert.Equal(when, item.LastWriteTime.ToUniversalTime());
        Assert.Equal(when, item.LastAccessTime.ToUniversalTime());
        var e = Assert.Throws<ArgumentException>(() => ItemPropertyChanges.FromPairs([new("Color", "red")]));
        Assert.Contains("LastWriteTime", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_caller_without_permission_gets_PermissionDenied()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/private", ItemKind.Directory, mode: 0x1C0);
        await using var stranger = await CassaDriveSession.OpenAsync(fixture.WithLocalLocks(), "/", caller: new Caller(4242, 4242, []));
        var e = await Assert.ThrowsAsync<FileSystemException>(() => new ItemOperations(stranger).NewAsync($"{dir}/private/x", ItemKind.File, "no"));
        Assert.Equal("PermissionDenied", Failure.Of(e).Category);
    }

    private async Task<string> ReadAsync(string path)
    {
        await using var reader = await ContentReader.OpenAsync(fixture.Drive, path, new ContentReadOptions { Raw = true });
        var block = await reader.ReadBlockAsync();
        return (string)block[0];
    }
}
