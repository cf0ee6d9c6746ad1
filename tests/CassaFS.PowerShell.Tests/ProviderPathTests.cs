namespace CassaFS.PowerShell.Tests;

public sealed class ProviderPathTests
{
    [Theory]
    [InlineData(@"cassa:\a\b", "/a/b")]
    [InlineData("cassa:/a/b", "/a/b")]
    [InlineData(@"\a\b\", "/a/b")]
    [InlineData("a//b/./c", "/a/b/c")]
    [InlineData("/a/b/../c", "/a/c")]
    [InlineData("/../../x", "/x")]
    [InlineData("cassa:", "/")]
    [InlineData(@"cassa:\dir with spaces\ünïcødé ✓", "/dir with spaces/ünïcødé ✓")]
    public void Backslashes_slashes_dots_and_drive_names_normalize_to_one_absolute_path(string given, string expected) =>
        Assert.Equal(expected, ProviderPath.Normalize(given));

    [Theory]
    [InlineData("/projects", @"cassa:\src", "/projects/src")]
    [InlineData("/projects", "src/../lib", "/projects/lib")]
    [InlineData("/projects", @"cassa:\..\..", "/projects")]
    [InlineData("/projects", "/projects/x", "/projects/x")]
    [InlineData("/", "cassa:/a", "/a")]
    public void Paths_combine_under_a_subdirectory_root_and_dotdot_stops_at_the_root(string root, string path, string expected) =>
        Assert.Equal(expected, ProviderPath.Combine(root, path));

    [Fact]
    public void Parent_name_and_relative_path_of_a_path()
    {
        Assert.Equal("/a", ProviderPath.Parent("/a/b"));
        Assert.Equal("/", ProviderPath.Parent("/a"));
        Assert.Equal("b c", ProviderPath.Name(@"\a\b c"));
        Assert.Equal("b/c", ProviderPath.Relative("/a/b/c", "/a"));
        Assert.True(ProviderPath.IsWithin("/a/b", "/a"));
        Assert.False(ProviderPath.IsWithin("/ab", "/a"));
    }

    [Theory]
    [InlineData("cassa:/", "a/b", "cassa:/a/b")]
    [InlineData("cassa:", "a", "cassa:/a")]
    [InlineData("", "a\\b", "a\\b")]
    [InlineData("a", "", "a")]
    [InlineData("cassa:/a/", "/b", "cassa:/a/b")]
    [InlineData("/", "a", "/a")]
    public void MakePath_joins_with_one_slash_whatever_separators_the_parts_carry(string parent, string child, string expected) =>
        Assert.Equal(expected, ProviderPath.MakePath(parent, child));

    [Theory]
    [InlineData("cassa:/a/b", "cassa:/", "cassa:/a")]
    [InlineData(@"cassa:\a\b", "cassa:/", "cassa:/a")]
    [InlineData("cassa:/a", "cassa:/", "cassa:/")]
    [InlineData("cassa:/", "cassa:/", "")]
    [InlineData("cassa:", "", "")]
    [InlineData("t/sub", "cassa:/", "t")]
    [InlineData(@"t\sub", "cassa:/", "t")]
    [InlineData("t", "cassa:/", "")]
    [InlineData("/a/b", "", "/a")]
    [InlineData("/a", "", "/")]
    [InlineData("/", "", "")]
    [InlineData("/proj", "/proj", "")]
    public void GetParentPath_keeps_the_path_s_own_form_and_ends_at_the_root(string path, string root, string expected) =>
        Assert.Equal(expected, ProviderPath.ParentPath(path, root));

    [Theory]
    [InlineData("cassa:/a/b c", "b c")]
    [InlineData(@"cassa:\a\b\", "b")]
    [InlineData("cassa:/", "")]
    [InlineData("cassa:", "")]
    [InlineData("/", "")]
    [InlineData("a", "a")]
    public void GetChildName_is_the_last_component_and_empty_for_a_root(string path, string expected) =>
        Assert.Equal(expected, ProviderPath.ChildName(path));

    [Fact]
    public void Walking_up_a_provider_path_the_way_PowerShell_does_yields_the_drive_relative_path()
    {
        // LocationGlobber turns a provider path into a drive-relative one by taking child names until GetParentPath
        // reaches the root ("cassa:/" trimmed of its slash) or "".
        var providerPath = "cassa:/a/b c/d";
        var relative = "";
        while (providerPath.Length > 0 && providerPath.TrimEnd('/') != "cassa:")
        {
            relative = relative.Length == 0 ? ProviderPath.ChildName(providerPath) : ProviderPath.MakePath(ProviderPath.ChildName(providerPath), relative);
            providerPath = ProviderPath.ParentPath(providerPath, "cassa:/");
        }
        Assert.Equal("a/b c/d", relative);
    }

    [Theory]
    [InlineData("cassa:/t/sub", "cassa:/", "t/sub")]
    [InlineData(@"cassa:/..\..", "cassa:/", "")]
    [InlineData("cassa:/a/b", "cassa:/a/b", "")]
    [InlineData("cassa:/a/x/y", "cassa:/a/b", "../x/y")]
    [InlineData("cassa:/", "cassa:/a/b", "../..")]
    public void NormalizeRelativePath_is_relative_to_the_base_with_dotdot_outside_it(string path, string basePath, string expected) =>
        Assert.Equal(expected, ProviderPath.RelativeTo(path, basePath));

    [Fact]
    public void A_drive_is_rooted_at_its_own_name_and_names_itself_in_its_paths()
    {
        Assert.Equal("cassa:/", ProviderPath.DriveRoot("cassa"));
        Assert.Equal("cassa", ProviderPath.DriveNameOf(@"cassa:\a"));
        Assert.Equal("cassa", ProviderPath.DriveNameOf("cassa:"));
        Assert.Null(ProviderPath.DriveNameOf("/a/b"));
        Assert.Null(ProviderPath.DriveNameOf("a/b:c"));
        Assert.Equal("cassa:/b/c", ProviderPath.OnDrive("cassa", "/proj", "/proj/b/c"));
        Assert.Equal("cassa:/", ProviderPath.OnDrive("cassa", "/proj", "/proj"));
        Assert.Equal("cassa:/proj/x", ProviderPath.OnDrive("cassa", "/", "/proj/x"));
        Assert.Equal("/other", ProviderPath.OnDrive("cassa", "/proj", "/other"));
        Assert.Equal("/proj/b/c", ProviderPath.Combine("/proj", ProviderPath.OnDrive("cassa", "/proj", "/proj/b/c")));
    }

    [Theory]
    [InlineData(null, ItemKind.File)]
    [InlineData("file", ItemKind.File)]
    [InlineData("d", ItemKind.Directory)]
    [InlineData("Directory", ItemKind.Directory)]
    [InlineData("container", ItemKind.Directory)]
    [InlineData("sym", ItemKind.SymbolicLink)]
    [InlineData("SymbolicLink", ItemKind.SymbolicLink)]
    [InlineData("symlink", ItemKind.SymbolicLink)]
    [InlineData("HardLink", ItemKind.HardLink)]
    public void Item_types_are_read_like_the_FileSystem_provider_by_any_prefix(string? given, ItemKind expected) =>
        Assert.Equal(expected, ItemKinds.Parse(given));

    [Fact]
    public void An_unknown_item_type_names_the_supported_ones() =>
        Assert.Contains("SymbolicLink", Assert.Throws<ArgumentException>(() => ItemKinds.Parse("junction")).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("*.txt", "a.txt", true)]
    [InlineData("*.txt", "a.txt.bak", false)]
    [InlineData("a?c", "abc", true)]
    [InlineData("[ab]*", "banana", true)]
    [InlineData("[a-c]x", "dx", false)]
    [InlineData("file[1].txt", "file1.txt", true)]
    [InlineData("file[1].txt", "file[1].txt", false)]
    [InlineData("file`[1`].txt", "file[1].txt", true)]
    [InlineData("A*", "abc", false)]
    public void Wildcards_match_names_like_PowerShell_and_case_sensitively(string pattern, string name, bool expected) =>
        Assert.Equal(expected, new Wildcard(pattern).IsMatch(name));

    [Fact]
    public void Escaping_makes_a_name_with_brackets_match_only_itself()
    {
        var escaped = Wildcard.Escape("a[1]*.txt");
        Assert.False(Wildcard.ContainsWildcard(escaped));
        Assert.True(new Wildcard(escaped).IsMatch("a[1]*.txt"));
        Assert.False(new Wildcard(escaped).IsMatch("a1x.txt"));
        Assert.Equal("a[1]*.txt", Wildcard.Unescape(escaped));
    }

    [Fact]
    public void An_unclosed_bracket_is_an_error_that_suggests_LiteralPath()
    {
        var e = Assert.Throws<ArgumentException>(() => new Wildcard("a[b"));
        Assert.Contains("-LiteralPath", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0644", 0x1A4)]
    [InlineData("755", 0x1ED)]
    [InlineData("rwxr-x---", 0x1E8)]
    [InlineData("-rw-r--r--", 0x1A4)]
    [InlineData("rwsr-xr-t", 0x1ED | ModeBits.SetUid | ModeBits.Sticky)]
    public void Modes_parse_from_octal_and_from_ls_notation(string text, int expected) =>
        Assert.Equal(expected, ItemView.ParseMode(text));

    [Fact]
    public void Mode_strings_show_type_permissions_and_special_bits_like_ls()
    {
        Assert.Equal("drwxr-xr-x", ItemView.ModeString(FileType.Directory, 0x1ED));
        Assert.Equal("-rw-r--r--", ItemView.ModeString(FileType.Regular, 0x1A4));
        Assert.Equal("lrwxrwxrwx", ItemView.ModeString(FileType.Symlink, 0x1FF));
        Assert.Equal("-rwSr-xr-T", ItemView.ModeString(FileType.Regular, 0x1AC | ModeBits.SetUid | ModeBits.Sticky));
    }

    [Theory]
    [InlineData("utf8", 0)]
    [InlineData("utf8BOM", 3)]
    [InlineData("unicode", 2)]
    [InlineData("utf32", 4)]
    public void Encoding_names_follow_PowerShell_7(string name, int preambleLength) =>
        Assert.Equal(preambleLength, TextEncodings.Parse(name).GetPreamble().Length);

    [Fact]
    public void An_unknown_encoding_names_the_accepted_ones() =>
        Assert.Contains("utf8BOM", Assert.Throws<ArgumentException>(() => TextEncodings.Parse("klingon")).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(Errno.ENOENT, "ItemNotFound", "ObjectNotFound")]
    [InlineData(Errno.EEXIST, "ItemExists", "ResourceExists")]
    [InlineData(Errno.EACCES, "PermissionDenied", "PermissionDenied")]
    [InlineData(Errno.EPERM, "PermissionDenied", "PermissionDenied")]
    [InlineData(Errno.ENOTEMPTY, "DirectoryNotEmpty", "ResourceBusy")]
    [InlineData(Errno.EAGAIN, "ItemBusy", "ResourceBusy")]
    [InlineData(Errno.EINVAL, "EINVAL", "InvalidArgument")]
    public void Filesystem_errors_map_to_fitting_error_ids_and_categories(Errno errno, string id, string category)
    {
        var failure = Failure.Of(new FileSystemException(errno, "/x"));
        Assert.Equal(id, failure.ErrorId);
        Assert.Equal(category, failure.Category);
        Assert.Equal("/x", failure.Target);
    }

    [Fact]
    public void Lock_modes_and_consistency_parse_in_any_case_and_refuse_unknown_values()
    {
        // New-PSDrive's -LockMode and -Consistency become the drive's ClientSettings through these.
        Assert.Equal("lwt", Client.ClientSettings.Name(Client.ClientSettings.ParseLockMode("LWT")));
        Assert.Equal(Cql.Consistency.LocalQuorum, Client.ClientSettings.ParseConsistency("LOCAL_QUORUM"));
        Assert.Contains("zookeeper", Assert.Throws<ArgumentException>(() => Client.ClientSettings.ParseLockMode("redis")).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Client.ClientSettings.ParseConsistency("most"));
    }
}
