// The router: a Linux Python function app on its own plan, with a system-assigned identity, its
// own storage (host and its Durable task hub, by identity) and every setting the azure backend
// reads (provisioning/config.py, router/settings.py; tests/infra/test_bicep.py derives the
// required ones from that code).
param name string
param token string
param location string
param tags object
param planSku string
param appInsightsName string
param laneGroupName string
param lanePlanId string
param laneIdentityId string
param laneIdentityClientId string
param laneStorageAccountName string
param laneContentSecretUri string
param laneSchedulerId string
param packageHost string
@secure()
param clientKeys string
@secure()
param releaseKeys string
@secure()
param adminKeys string

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: 'plan-${name}-router'
  location: location
  tags: tags
  kind: 'linux'
  sku: {
    name: planSku
  }
  properties: {
    reserved: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'strouter${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // the host reaches it by identity only
  }
}

resource router 'Microsoft.Web/sites@2024-11-01' = {
  name: 'func-${name}-router'
  location: location
  // azd finds the app to deploy `services.router` to by this tag.
  tags: union(tags, { 'azd-service-name': 'router' })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    reserved: true
    httpsOnly: true
    siteConfig: {
      linuxFxVersion: 'Python|3.11'
      // Without it a Dedicated plan unloads an idle app, and Durable's timers and polling stop.
      alwaysOn: true
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        {
          name: 'FUNCTIONS_EXTENSION_VERSION'
          value: '~4'
        }
        {
          name: 'FUNCTIONS_WORKER_RUNTIME'
          value: 'python'
        }
        // Identity-based host storage; service URIs rather than accountName so other clouds work.
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        // azd deploys the source; App Service installs requirements.txt for Linux (Oryx).
        {
          name: 'SCM_DO_BUILD_DURING_DEPLOYMENT'
          value: 'true'
        }
        {
          name: 'ENABLE_ORYX_BUILD'
          value: 'true'
        }
        // host.json: "hubName": "%ROUTER_TASK_HUB%"
        {
          name: 'ROUTER_TASK_HUB'
          value: 'RouterHub'
        }
        // The azure backend (docs/azure.md): where lane apps go and how they are set up.
        {
          name: 'ROUTER_PROVISIONER'
          value: 'azure'
        }
        {
          name: 'ROUTER_ARM_ENDPOINT'
          value: environment().resourceManager
        }
        {
          name: 'ROUTER_SUBSCRIPTION_ID'
          value: subscription().subscriptionId
        }
        {
          name: 'ROUTER_RESOURCE_GROUP'
          value: laneGroupName
        }
        {
          name: 'ROUTER_LOCATION'
          value: location
        }
        {
          name: 'ROUTER_PLAN_ID'
          value: lanePlanId
        }
        {
          name: 'ROUTER_LANE_IDENTITY_ID'
          value: laneIdentityId
        }
        {
          name: 'ROUTER_LANE_IDENTITY_CLIENT_ID'
          value: laneIdentityClientId
        }
        {
          name: 'ROUTER_LANE_STORAGE_ACCOUNT'
          value: laneStorageAccountName
        }
        // Empty unless the lanes' plan is Elastic Premium / a scheduler was asked for.
        {
          name: 'ROUTER_LANE_CONTENT_SECRET_URI'
          value: laneContentSecretUri
        }
        {
          name: 'ROUTER_LANE_SCHEDULER_ID'
          value: laneSchedulerId
        }
        {
          name: 'ROUTER_ALLOWED_PACKAGE_HOSTS'
          value: packageHost
        }
        // Each role's keys (README, "Keys and roles"); never an output of this template.
        {
          name: 'ROUTER_CLIENT_KEYS'
          value: clientKeys
        }
        {
          name: 'ROUTER_RELEASE_KEYS'
          value: releaseKeys
        }
        {
          name: 'ROUTER_ADMIN_KEYS'
          value: adminKeys
        }
      ]
    }
  }
}

// The router's own host storage: identity-based AzureWebJobsStorage and its Durable task hub
// (blobs for leases, queues for work, tables for history; docs: durable-functions-configure-managed-identity).
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, router.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: router.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Queues: the router's orchestration and activity work items.
resource hostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, router.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: router.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Tables: the router's histories and instances (the version map entity's state among them).
resource hostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, router.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: router.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = router.name
output url string = 'https://${router.properties.defaultHostName}'
output principalId string = router.identity.principalId
