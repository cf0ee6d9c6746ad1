using System.Globalization;
using System.Xml;

namespace CassaFS.PowerShell.Provider;

/// <summary>
/// The cassa:-specific help of a built-in cmdlet (Get-Help Set-Content -Path cassa:/): the command entry for it under
/// the provider help's CmdletHelpPaths, in the module's en-US help file. PowerShell merges it with the cmdlet's own
/// help, so -Parameter finds the dynamic parameters the drive adds.
/// </summary>
internal static class ProviderHelp
{
    private const string Msh = "http://msh";
    private const string Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private const string FileName = "CassaFS.PowerShell.dll-Help.xml";

    public static string CmdletHelp(string? moduleBase, string cmdletName)
    {
        var file = Candidates(moduleBase).FirstOrDefault(File.Exists);
        if (file is null) return "";
        var document = new XmlDocument { XmlResolver = null };
        using (var reader = XmlReader.Create(file, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null }))
            document.Load(reader);
        var names = new XmlNamespaceManager(document.NameTable);
        names.AddNamespace("msh", Msh);
        names.AddNamespace("command", Command);
        foreach (XmlNode node in document.SelectNodes("/msh:helpItems/msh:providerHelp/msh:CmdletHelpPaths/command:command", names)!)
        {
            var name = node.SelectSingleNode("command:details/command:name", names)?.InnerText.Trim();
            if (string.Equals(name, cmdletName, StringComparison.OrdinalIgnoreCase)) return node.OuterXml;
        }
        return "";
    }

    private static IEnumerable<string> Candidates(string? moduleBase)
    {
        var assemblyDirectory = System.IO.Path.GetDirectoryName(typeof(ProviderHelp).Assembly.Location) ?? "";
        var folders = new[] { moduleBase, System.IO.Path.GetDirectoryName(assemblyDirectory), assemblyDirectory }.Where(f => !string.IsNullOrEmpty(f));
        var cultures = new[] { CultureInfo.CurrentUICulture.Name, "en-US" }.Where(c => c.Length > 0).Distinct();
        return folders.SelectMany(f => cultures.Select(c => System.IO.Path.Combine(f!, c, FileName)));
    }
}
