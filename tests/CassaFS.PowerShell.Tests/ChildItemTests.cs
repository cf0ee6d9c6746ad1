using CassaFS.Locks;

namespace CassaFS.PowerShell.Tests;

[Collection("drive")]
public sealed class ChildItemTests(DriveFixture fixture)
{
    private ItemOperations Items => new(fixture.Drive);

    /// <summary>dir/{a.txt, b.log, .hidden, sub/{c.txt, deeper/{d.txt}}, .dotdir/{e.txt}}</summary>
    private async Task<string> TreeAsync()
    {
        var dir = await fixture.NewDirectoryAsync();
        await Items.NewAsync($"{dir}/a.txt", ItemKind.File, "aaa");
        await Items.NewAsync($"{dir}/b.log", ItemKind.File, "b");
        await Items.NewAsync($"{dir}/.hidden", ItemKind.File, "h");
        await Items.NewAsync($"{dir}/sub", ItemKind.Directory);
        await Items.NewAsync($"{dir}/sub/c.txt", ItemKind.File, "c");
        await Items.NewAsync($"{dir}/sub/deeper", ItemKind.Directory);
        await Items.NewAsync($"{dir}/sub/deeper/d.txt", ItemKind.File, "d");
        await Items.NewAsync($"{dir}/.dotdir", ItemKind.Directory);
        await Items.NewAsync($"{dir}/.dotdir/e.txt", ItemKind.File, "e");
        return dir;
    }

    private async Task<List<string>> NamesAsync(ChildItemQuery query, string path, CassaDriveSession? drive = null)
    {
        var names = new List<string>();
        await foreach (var item in query.RunAsync(drive ?? fixture.Drive, path)) names.Add(item.RelativeName);
        return names;
    }

    [Fact]
    public async Task A_plain_listing_shows_children_in_name_order_without_dot_files()
    {
        var dir = await TreeAsync();
        Assert.Equal(["a.txt", "b.log", "sub"], await NamesAsync(new ChildItemQuery(), dir));
    }

    [Fact]
    public async Task Force_shows_dot_files_and_recurse_descends_into_them_only_with_force()
    {
        var dir = await TreeAsync();
        Assert.Equal([".dotdir", ".hidden", "a.txt", "b.log", "sub"], await NamesAsync(new ChildItemQuery { Force = true }, dir));
        Assert.Equal(["a.txt", "b.log", "sub", "sub/c.txt", "sub/deeper", "sub/deeper/d.txt"], await NamesAsync(new ChildItemQuery { Recurse = true }, dir));
        Assert.Contains(".dotdir/e.txt", await NamesAsync(new ChildItemQuery { Recurse = true, Force = true }, dir));
    }

    [Fact]
    public async Task Depth_limits_how_far_recursion_goes()
    {
        var dir = await TreeAsync();
        Assert.Equal(["a.txt", "b.log", "sub"], await NamesAsync(new ChildItemQuery { Recurse = true, Depth = 0 }, dir));
        Assert.Equal(["a.txt", "b.log", "sub", "sub/c.txt", "sub/deeper"], await NamesAsync(new ChildItemQuery { Recurse = true, Depth = 1 }, dir));
        Assert.Equal(["a.txt", "b.log", "sub", "sub/c.txt", "sub/deeper", "sub/deeper/d.txt"], await NamesAsync(new ChildItemQuery { Depth = 2 }, dir));
    }

    [Fact]
    public async Task Filter_include_and_exclude_select_by_name_at_every_level()
    {
        var dir = await TreeAsync();
        Assert.Equal(["a.txt", "sub/c.txt", "sub/deeper/d.txt"], await NamesAsync(new ChildItemQuery { Recurse = true, Filter = "*.txt" }, dir));
        Assert.Equal(["a.txt", "b.log"], await NamesAsync(new ChildItemQuery { Include = ["*.txt", "*.log"] }, dir));
        Assert.Equal(["a.txt", "sub", "sub/c.txt", "sub/deeper", "sub/deeper/d.txt"], await NamesAsync(new ChildItemQuery { Recurse = true, Exclude = ["*.log"] }, dir));
        Assert.Equal(["c.txt"], await NamesAsync(new ChildItemQuery { Filter = "c*" }, $"{dir}/sub"));
    }

    [Fact]
    public async Task Directory_and_file_switches_keep_only_that_kind()
    {
        var dir = await TreeAsync();
        Assert.Equal(["sub", "sub/deeper"], await NamesAsync(new ChildItemQuery { Recurse = true, DirectoriesOnly = true }, dir));
        Assert.Equal(["a.txt", "b.log"], await NamesAsync(new ChildItemQuery { FilesOnly = true }, dir));
    }

    [Fact]
    public async Task Listing_a_file_returns_the_file_and_a_missing_path_fails_with_ItemNotFound()
    {
        var dir = await TreeAsync();
        var items = new List<ItemView>();
        await foreach (var i in new ChildItemQuery().RunAsync(fixture.Drive, $"{dir}/a.txt")) items.Add(i);
        Assert.Equal("a.txt", Assert.Single(items).Name);
        var e = await Assert.ThrowsAsync<FileSystemException>(async () =>
        {
            await foreach (var _ in new ChildItemQuery().RunAsync(fixture.Drive, $"{dir}/missing")) { }
        });
        Assert.Equal("ItemNotFound", Failure.Of(e).ErrorId);
    }

    [Fact]
    public async Task Items_carry_stat_data_and_the_lock_column_names_the_holder()
    {
        var dir = await TreeAsync();
        await using var held = await new LockCommands(fixture.Other).LockAsync($"{dir}/a.txt", LockMode.Write, purpose: "editing in another session");
        var items = new Dictionary<string, ItemView>();
        await foreach (var i in new ChildItemQuery().RunAsync(fixture.Drive, dir)) items[i.Name] = i;
        var a = items["a.txt"];
        Assert.Equal(LockMode.Write, a.LockMode);
        Assert.Contains("editing in another session", a.LockHolder, StringComparison.Ordinal);
        Assert.StartsWith("W ", a.Lock, StringComparison.Ordinal);
        Assert.Equal(3, a.Length);
        Assert.Equal(1, a.LinkCount);
        Assert.Equal($"{dir}/a.txt", a.FileSystemPath);
        Assert.NotEqual(Guid.Empty, a.Inode);
        Assert.True(DateTime.Now - a.LastWriteTime < TimeSpan.FromMinutes(5));
        Assert.Null(items["b.log"].LockMode);
        Assert.Equal("", items["b.log"].Lock);
    }

    [Fact]
    public async Task A_drive_rooted_at_a_subdirectory_lists_that_subdirectory_and_stops_dotdot_at_its_root()
    {
        var dir = await TreeAsync();
        await using var sub = await CassaDriveSession.OpenAsync(fixture.WithLocalLocks(), $"{dir}/sub");
        Assert.Equal(["c.txt", "deeper"], await NamesAsync(new ChildItemQuery(), "cassa:/", sub));
        Assert.Equal(["c.txt", "deeper"], await NamesAsync(new ChildItemQuery(), @"cassa:\deeper\..\..\..", sub));
        Assert.Equal(["d.txt"], await NamesAsync(new ChildItemQuery(), @"cassa:\deeper", sub));
    }

    [Fact]
    public async Task Asking_for_all_containers_lists_every_directory_whatever_the_filter_so_PowerShell_can_recurse()
    {
        var dir = await TreeAsync();
        Assert.Equal(["a.txt"], await NamesAsync(new ChildItemQuery { Filter = "*.txt" }, dir));
        Assert.Equal(["a.txt", "sub"], await NamesAsync(new ChildItemQuery { Filter = "*.txt", AllContainers = true }, dir));
        Assert.Equal(["a.txt", "b.log", "sub"], await NamesAsync(new ChildItemQuery { FilesOnly = true, AllContainers = true }, dir));
        Assert.Equal(["sub"], await NamesAsync(new ChildItemQuery { DirectoriesOnly = true, Filter = "x*", AllContainers = true }, dir));
        Assert.Equal([".dotdir", "a.txt", "sub"], await NamesAsync(new ChildItemQuery { Filter = "a*", Force = true, AllContainers = true }, dir));
    }

    [Fact]
    public async Task Drive_qualified_provider_paths_list_below_the_drive_root()
    {
        var dir = await TreeAsync();
        await using var sub = await CassaDriveSession.OpenAsync(fixture.WithLocalLocks(), $"{dir}/sub");
        var items = new List<ItemView>();
        await foreach (var item in new ChildItemQuery().RunAsync(sub, "subdrive:/deeper")) items.Add(item);
        Assert.Equal($"{dir}/sub/deeper/d.txt", Assert.Single(items).FileSystemPath);
        Assert.Equal("subdrive:/deeper/d.txt", ProviderPath.OnDrive("subdrive", sub.Root, items[0].FileSystemPath));
    }

    [Fact]
    public async Task Large_directories_stream_past_the_page_size()
    {
        var dir = await fixture.NewDirectoryAsync();
        var (parent, _) = await fixture.Drive.FileSystem.ResolveParentAsync($"{dir}/x", fixture.Drive.Caller);
        await Parallel.ForEachAsync(Enumerable.Range(0, 700), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            await fixture.Drive.FileSystem.MknodAsync(parent.Id, $"f{i:D4}", FileType.Regular, 0x1A4, 0, fixture.Drive.Caller, ct));
        var count = 0;
        string? previous = null;
        await foreach (var item in new ChildItemQuery().RunAsync(fixture.Drive, dir))
        {
            Assert.True(previous is null || string.CompareOrdinal(previous, item.Name) < 0);
            previous = item.Name;
            count++;
        }
        Assert.Equal(700, count);
    }
}
