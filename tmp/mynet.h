
#include <eml_net.h>
static const float mynet_layer_0_biases[10] = { -0.146806f, -0.593416f, 0.043151f, -0.075491f, -0.248568f, -0.305418f, 0.661967f, -0.285886f, 0.467276f, -0.516814f };
static const float mynet_layer_0_weights[60] = { -0.155322f, 0.164122f, -0.123187f, 0.547029f, 0.017544f, 0.158030f, -0.032017f, 0.747685f, 0.204847f, -0.485727f, 0.576536f, 0.101759f, -0.161037f, 0.933182f, -0.532389f, -0.422346f, -0.475257f, 0.643899f, 0.184058f, 0.371400f, 0.930084f, 0.222663f, 0.168159f, -0.159377f, -0.324045f, 0.126541f, -0.600048f, 0.687841f, 0.234089f, 0.016018f, -0.192233f, 0.519009f, -0.186767f, -0.207652f, -0.687460f, 0.037042f, 0.289557f, -0.048994f, 0.906537f, 0.562087f, 0.002186f, -0.076706f, 0.533430f, -0.692842f, 0.433205f, 0.005126f, -0.479229f, -0.109551f, -0.434319f, -0.403627f, 0.311264f, 0.048028f, 0.403679f, -0.344205f, -0.337313f, -0.544763f, 0.347542f, -0.157092f, 0.107407f, -0.194669f };
static const float mynet_layer_1_biases[6] = { -0.021178f, -0.201058f, -0.145290f, -0.096688f, 0.206814f, 0.354687f };
static const float mynet_layer_1_weights[60] = { 1.148755f, 0.198793f, 1.116963f, 0.200251f, 0.247455f, -0.643643f, -0.304611f, -0.075600f, -0.000208f, -0.765516f, 0.121387f, -0.389737f, -0.652032f, 0.130200f, 0.370693f, -0.105853f, 0.129638f, -0.275070f, 0.549900f, 0.387289f, 0.223204f, 0.434542f, -0.767444f, 0.200281f, -0.594758f, -0.545922f, 0.240900f, -0.499574f, 0.282137f, -0.733309f, -0.005054f, -0.568991f, -0.021111f, 0.664490f, -0.106499f, 0.150615f, -0.187396f, -0.027958f, -0.312861f, 0.701159f, -0.032094f, 0.636022f, 0.622160f, -0.297997f, 0.693023f, -0.012741f, 0.420078f, 0.113553f, 0.121935f, 0.140273f, 0.439542f, 0.188754f, 0.557616f, 0.497261f, -0.605318f, 0.455183f, -0.275744f, -0.689029f, 0.473294f, -0.350316f };
static const float mynet_layer_2_biases[3] = { -0.479823f, 0.596439f, 0.282005f };
static const float mynet_layer_2_weights[18] = { -0.092201f, 0.185239f, 0.603035f, 0.021467f, 0.545949f, -0.351515f, -0.485202f, 0.845779f, 0.567794f, 0.538459f, -1.110919f, 0.570391f, 0.466671f, 0.827634f, -0.718961f, 0.855539f, -0.883494f, -0.030067f };
static float mynet_buf1[10];
static float mynet_buf2[10];
static const EmlNetLayer mynet_layers[3] = { 
{ 10, 6, mynet_layer_0_weights, mynet_layer_0_biases, EmlNetActivationRelu }, 
{ 6, 10, mynet_layer_1_weights, mynet_layer_1_biases, EmlNetActivationRelu }, 
{ 3, 6, mynet_layer_2_weights, mynet_layer_2_biases, EmlNetActivationSoftmax } };
static EmlNet mynet = { 3, mynet_layers, mynet_buf1, mynet_buf2, 10 };

    int32_t
    mynet_predict(const float *features, int32_t n_features)
    {
        return eml_net_predict(&mynet, features, n_features);
    }
    

    int32_t
    mynet_regress(const float *features, int32_t n_features, float *out, int32_t out_length)
    {
        return eml_net_regress(&mynet, features, n_features, out, out_length);
    }
    

    float
    mynet_regress1(const float *features, int32_t n_features)
    {
        return eml_net_regress1(&mynet, features, n_features);
    }
    