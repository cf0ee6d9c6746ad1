using System.Management.Automation;
using System.Reflection;

namespace CassaFS.PowerShell.Provider;

/// <summary>
/// A provider's dynamic parameters as this provider's own type. A switch typed before the path (<c>Get-Content -Raw
/// cassa:/f</c>) is bound while the path is still unknown, to the current location's provider's parameter object
/// (FileSystem's, in a session that starts on the local disk); its values are read here by name, so the command
/// means the same whichever order its parameters come in.
/// </summary>
internal static class DynamicParameterValues
{
    public static T? Read<T>(object? given) where T : class, new()
    {
        if (given is T own) return own;
        if (given is null) return null;
        var result = new T();
        var source = given.GetType();
        foreach (var property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var other = source.GetProperty(property.Name, BindingFlags.Public | BindingFlags.Instance);
            if (other?.CanRead != true) continue;
            var value = other.GetValue(given);
            if (value is null) continue;
            try
            {
                property.SetValue(result, property.PropertyType.IsInstanceOfType(value) ? value : LanguagePrimitives.ConvertTo(value, property.PropertyType, System.Globalization.CultureInfo.InvariantCulture));
            }
            catch (PSInvalidCastException)
            {
                // a parameter of the same name but another meaning: left at its default
            }
        }
        return result;
    }
}
